/** Loopback ports for tests. */
import { createServer } from 'node:net'
import type { AddressInfo } from 'node:net'

/** A port nothing listens on right now (bound once, then released): connections to it are refused. */
export async function closedPort(): Promise<number> {
  const server = createServer().listen(0, '127.0.0.1')
  await new Promise((resolve) => server.once('listening', resolve))
  const port = (server.address() as AddressInfo).port
  await new Promise((resolve) => server.close(resolve))
  return port
}
