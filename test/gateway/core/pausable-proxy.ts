/**
 * A TCP relay on loopback in front of a real server (PostgreSQL here) that a test can pause: while
 * paused it reads but relays nothing in either direction, as a database frozen mid-flight looks
 * to its clients (connections open, queries unanswered); on resume it delivers what it held, in
 * order, so whatever was sent still happens, late.
 */
import { connect, createServer, type Server, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';

export interface PausableProxy {
  /** `url` with its host and port replaced by the proxy's. */
  via(url: string): string;
  pause(): void;
  resume(): void;
  close(): Promise<void>;
}

export async function startPausableProxy(target: {
  host: string;
  port: number;
}): Promise<PausableProxy> {
  let paused = false;
  const held: (() => void)[] = [];
  const sockets = new Set<Socket>();

  /** Relays `from` to `to`, holding each chunk while paused. */
  function relay(from: Socket, to: Socket): void {
    from.on('data', (chunk: Buffer) => {
      const deliver = (): void => {
        if (!to.destroyed) to.write(chunk);
      };
      if (paused || held.length > 0) held.push(deliver);
      else deliver();
    });
    from.on('close', () => {
      // Closed while paused: the close, too, is delivered on resume.
      const end = (): void => void to.destroy();
      if (paused || held.length > 0) held.push(end);
      else end();
    });
    from.on('error', () => {});
  }

  const server: Server = createServer((client) => {
    const upstream = connect(target.port, target.host);
    for (const socket of [client, upstream]) {
      sockets.add(socket);
      socket.on('close', () => sockets.delete(socket));
    }
    relay(client, upstream);
    relay(upstream, client);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;

  const resume = (): void => {
    paused = false;
    for (const deliver of held.splice(0)) deliver();
  };
  return {
    via(url) {
      const parsed = new URL(url);
      parsed.hostname = '127.0.0.1';
      parsed.port = String(port);
      return parsed.href;
    },
    pause() {
      paused = true;
    },
    resume,
    async close() {
      resume();
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
