// Typed client-node API clients whose requests are counted like the runtime's own, so
// "a steady-state reconcile makes zero writes" (invariant 2) can be asserted from metrics
// or a hook. One-shot requests do not hit the watch socket leak; only watches are ours.
import { createConfiguration, ServerConfiguration, type KubeConfig, type ApiType } from '@kubernetes/client-node';
import type { RuntimeMetrics } from './metrics.ts';
import { verbOf } from './metrics.ts';
import type { RequestInfo } from './client.ts';

type ApiConstructor<T> = new (config: ReturnType<typeof createConfiguration>) => T;

/** Like KubeConfig.makeApiClient, plus a middleware that counts every request by verb. */
export function makeCountedApiClient<T extends ApiType>(
  kc: KubeConfig,
  api: ApiConstructor<T>,
  opts: { metrics?: RuntimeMetrics; onRequest?: (info: RequestInfo) => void } = {},
): T {
  const cluster = kc.getCurrentCluster();
  if (!cluster) throw new Error('kubeconfig has no current cluster: set current-context to a context whose cluster exists');
  const config = createConfiguration({
    baseServer: new ServerConfiguration(cluster.server, {}),
    authMethods: { default: kc },
    promiseMiddleware: [
      {
        pre: async (ctx) => {
          const url = ctx.getUrl();
          const info: RequestInfo = { verb: verbOf(ctx.getHttpMethod(), url), method: ctx.getHttpMethod(), path: new URL(url).pathname };
          opts.metrics?.apiRequests.inc({ verb: info.verb });
          opts.onRequest?.(info);
          return ctx;
        },
        post: async (ctx) => ctx,
      },
    ],
  });
  return new api(config);
}
