import { STATUS_CODES } from 'node:http'

/** An error whose message is meant for the client, with the HTTP status to send it with. */
export class HttpError extends Error {
  statusCode: number
  headers?: Record<string, string>
  /** Extra keys for the error body (a 429's `usage`). */
  body?: Record<string, unknown>

  constructor(statusCode: number, message: string, extra: { headers?: Record<string, string>; body?: Record<string, unknown> } = {}) {
    super(message)
    this.name = STATUS_CODES[statusCode] ?? 'Error'
    this.statusCode = statusCode
    this.headers = extra.headers
    this.body = extra.body
  }
}

export const badRequest = (message: string) => new HttpError(400, message)
export const unauthorized = (message: string) => new HttpError(401, message, { headers: { 'www-authenticate': 'Bearer' } })
export const notFound = (message: string) => new HttpError(404, message)
