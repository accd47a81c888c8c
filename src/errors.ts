import { STATUS_CODES } from 'node:http'

/** An error whose message is meant for the client, with the HTTP status to send it with. */
export class HttpError extends Error {
  statusCode: number
  headers?: Record<string, string>

  constructor(statusCode: number, message: string, headers?: Record<string, string>) {
    super(message)
    this.name = STATUS_CODES[statusCode] ?? 'Error'
    this.statusCode = statusCode
    this.headers = headers
  }
}

export const badRequest = (message: string) => new HttpError(400, message)
export const unauthorized = (message: string) => new HttpError(401, message, { 'www-authenticate': 'Bearer' })
export const notFound = (message: string) => new HttpError(404, message)
