import uWS from 'uWebSockets.js';
import type { GatewayContext, RouteModule } from './context.js';
import { handle } from './http.js';
import { NotFoundError } from '../errors.js';

export interface GatewayServer {
  app: uWS.TemplatedApp;
  port: number;
  close(): void;
}

/** Build the uWS app from route modules and listen. Resolves with the bound port. */
export function startGateway(ctx: GatewayContext, modules: readonly RouteModule[], host: string, port: number): Promise<GatewayServer> {
  const app = uWS.App();
  for (const m of modules) m(app, ctx);
  app.any(
    '/*',
    handle(ctx.handlerOpts, (req) => {
      throw new NotFoundError(`no route for ${req.method.toUpperCase()} ${req.url}`);
    }),
  );
  return new Promise((resolve, reject) => {
    app.listen(host, port, (socket) => {
      if (!socket) {
        reject(new Error(`gateway could not listen on ${host}:${port}`));
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
