import { connect } from 'node:net'
import type { FastifyInstance } from 'fastify'

export interface RawResponse {
  statusCode: number
  headers: Record<string, string>
  body: string
}

/**
 * Sends `head` (a request line and headers, exactly as written: absolute-form targets, repeated
 * headers, encodings no client library would send) to a listening app and reads the whole response.
 */
export async function rawRequest(app: FastifyInstance, head: string[], body = ''): Promise<RawResponse> {
  if (!app.server.listening) await app.listen({ port: 0, host: '127.0.0.1' })
  const { port } = app.server.address() as { port: number }
  const text = await new Promise<string>((resolve, reject) => {
    const socket = connect(port, '127.0.0.1', () => socket.end(`${[...head, 'Connection: close'].join('\r\n')}\r\n\r\n${body}`))
    let out = ''
    socket.setEncoding('utf8')
    socket.on('data', (chunk) => (out += chunk))
    socket.on('error', reject)
    socket.on('close', () => resolve(out))
  })
  const [top = '', ...rest] = text.split('\r\n\r\n')
  const [status = '', ...lines] = top.split('\r\n')
  const headers: Record<string, string> = {}
  for (const line of lines) {
    const colon = line.indexOf(':')
    headers[line.slice(0, colon).toLowerCase()] = line.slice(colon + 1).trim()
  }
  return { statusCode: Number(status.split(' ')[1]), headers, body: rest.join('\r\n\r\n') }
}
