import { type Socket, createServer, connect } from 'node:net'
import type { Test } from 'tap'

/**
 * A TCP proxy on 127.0.0.1 in front of `target` that can cut the network without closing anything:
 * while partitioned, connections stay open (new ones are accepted too) and no byte passes either way,
 * as when a link between the server and its database drops. `heal` lets bytes through again on the
 * connections made from then on.
 */
export async function partitionableProxy(t: Test, target: { host: string; port: number }) {
  let partitioned = false
  const sockets = new Set<Socket>()
  const server = createServer((client) => {
    sockets.add(client)
    client.on('close', () => sockets.delete(client))
    client.on('error', () => {})
    if (partitioned) return // accepted, never forwarded
    const upstream = connect(target.port, target.host)
    sockets.add(upstream)
    upstream.on('error', () => client.destroy())
    client.on('error', () => upstream.destroy())
    client.on('close', () => upstream.destroy())
    upstream.on('close', () => client.destroy())
    client.on('data', (chunk) => partitioned || upstream.write(chunk))
    upstream.on('data', (chunk) => partitioned || client.write(chunk))
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  t.teardown(() => {
    for (const socket of sockets) socket.destroy()
    server.close()
  })
  return {
    port: (server.address() as { port: number }).port,
    partition() {
      partitioned = true
    },
    /** Bytes pass again on new connections; the ones that saw the partition stay silent, as a real peer that lost them would. */
    heal() {
      partitioned = false
      for (const socket of sockets) socket.pause()
    }
  }
}
