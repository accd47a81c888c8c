import { request } from 'node:http'

export interface StreamResult {
  status: number
  headers: Record<string, string | string[] | undefined>
  events: { type: string; [key: string]: unknown }[]
  /** Each event's `id:` (its number in the run), in step with `events`. */
  ids: number[]
  /** The body as it arrived, piece by piece. */
  chunks: string[]
}

/**
 * POSTs to an SSE route over real HTTP and reads the stream as a browser's reader would.
 * `stopAfter`: disconnect as soon as an event of that type has arrived.
 */
export function readStream(url: string, body: unknown, options: { headers?: Record<string, string>; stopAfter?: string; method?: string; onEvent?: (event: { type: string; [key: string]: unknown }) => void } = {}): Promise<StreamResult> {
  return new Promise((resolve, reject) => {
    const method = options.method ?? 'POST'
    const headers = method === 'POST' ? { 'content-type': 'application/json', ...options.headers } : options.headers
    const req = request(url, { method, headers }, (res) => {
      const result: StreamResult = { status: res.statusCode ?? 0, headers: res.headers, events: [], ids: [], chunks: [] }
      let buffer = ''
      res.setEncoding('utf8')
      res.on('data', (chunk: string) => {
        result.chunks.push(chunk)
        buffer += chunk
        let end: number
        while ((end = buffer.indexOf('\n\n')) >= 0) {
          const block = buffer.slice(0, end)
          buffer = buffer.slice(end + 2)
          for (const line of block.split('\n')) {
            if (line.startsWith('id: ')) result.ids.push(Number(line.slice(4)))
            if (line.startsWith('data: ')) {
              result.events.push(JSON.parse(line.slice(6)))
              options.onEvent?.(result.events.at(-1)!)
            }
          }
          if (options.stopAfter && result.events.at(-1)?.type === options.stopAfter) {
            req.destroy()
            resolve(result)
            return
          }
        }
      })
      res.on('end', () => resolve(result))
      res.on('error', reject)
    })
    req.on('error', (error) => (options.stopAfter ? undefined : reject(error)))
    req.end(method === 'POST' ? JSON.stringify(body) : undefined)
  })
}

/** The events llm-council's own stream had: without the runs' and the token stream's additions. */
export const stageEvents = <T extends { type: string }>(events: T[]): T[] =>
  events.filter(({ type }) => !type.endsWith('_delta') && !type.includes('_model_') && type !== 'run_start' && type !== 'run_end')
