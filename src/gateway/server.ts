import uWS from 'uWebSockets.js';
import type { GatewayContext, RouteModule } from './context.js';
import { handle } from './http.js';
import { NotFoundError } from '../errors.js';

export interface GatewayServer {
  app: uWS.TemplatedApp;
  port: number;
  close(): void;
}

/**
 * uWS's listen options (`ListenOptions` in its typings; the native module exports only the
 * exclusive flag). The default sets SO_REUSEPORT, so a second process on a port in use would
 * share it silently; exclusive makes that bind fail.
 */
const LIBUS_LISTEN_DEFAULT = 0;
const LIBUS_LISTEN_EXCLUSIVE_PORT = 1;

/** `listen(host, port, options, cb)`: the native build takes it; its typings lack the overload. */
type ListenWithOptions = (host: string, port: number, options: number, cb: (socket: uWS.us_listen_socket | false) => void) => uWS.TemplatedApp;

export interface ListenOptions {
  /** Share the port with other gateways on purpose (SO_REUSEPORT). @defaultValue false */
  sharedPort?: boolean;
}

/** Thrown when the gateway cannot listen: names the address and what to do. */
export class GatewayListenError extends Error {
  override name = 'GatewayListenError';
}

/** Build the uWS app from route modules and listen. Resolves with the bound port. */
export function startGateway(
  ctx: GatewayContext,
  modules: readonly RouteModule[],
  host: string,
  port: number,
  opts: ListenOptions = {},
): Promise<GatewayServer> {
  const app = uWS.App();
  for (const m of modules) m(app, ctx);
  app.any(
    '/*',
    handle('not-found', ctx.handlerOpts, (req) => {
      throw new NotFoundError(`no route for ${req.method.toUpperCase()} ${req.url}`);
    }),
  );
  const listen = app.listen.bind(app) as unknown as ListenWithOptions;
  return new Promise((resolve, reject) => {
    listen(host, port, opts.sharedPort ? LIBUS_LISTEN_DEFAULT : LIBUS_LISTEN_EXCLUSIVE_PORT, (socket) => {
      if (!socket) {
        const hint = opts.sharedPort
          ? 'the port is in use by a program that does not share it'
          : 'the port is in use (another instance?); set GATEWAY_SHARED_PORT=true on every gateway that should share it';
        reject(new GatewayListenError(`gateway could not listen on ${host}:${port}: ${hint}`));
        return;
      }
      const bound = uWS.us_socket_local_port(socket);
      resolve({
        app,
        port: bound,
        // Closing the listen socket first stops new connections; open ones finish their requests.
        close: () => uWS.us_listen_socket_close(socket),
      });
    });
  });
}

/** True when the native uWebSockets.js binary is loaded, not the package's `ws` fallback shim. */
export function nativeUwsLoaded(): boolean {
  const report = process.report?.getReport() as { sharedObjects?: string[] } | undefined;
  return (report?.sharedObjects ?? []).some((p) => /uws_[a-z0-9]+_[a-z0-9]+_\d+\.node$/.test(p));
}
