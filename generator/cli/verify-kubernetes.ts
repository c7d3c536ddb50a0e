import type { LoadedSpec } from '../spec/load.ts';
import {
  IMAGE_COMPONENTS,
  cleanUp,
  throwawayNamespace,
  verifyKubernetes,
  type ImageComponent,
  type KubernetesVerifyOptions,
} from '../verify/kubernetes.ts';
import { summaryTable } from '../verify/verify.ts';
import type { Io } from './io.ts';

/**
 * `otelkit verify --kubernetes`: the generated k8s/ on the cluster of the current kubeconfig
 * context, in a namespace of its own that is deleted afterwards. kubectl is $KUBECTL or the one on
 * PATH; OTELKIT_<NAME>_IMAGE names images already on the nodes, as for the compose verify.
 */
const INTERRUPTS = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;

/** Ctrl-C or a CI timeout must not leave the namespace running: delete it, then die of the signal. */
function deleteOnInterrupt(options: KubernetesVerifyOptions): () => void {
  const onSignal = (signal: NodeJS.Signals) => {
    for (const s of INTERRUPTS) process.removeListener(s, onSignal);
    options.progress(`verify --kubernetes: ${signal}, deleting namespace ${options.namespace}`);
    void cleanUp(options, options.namespace!, []).finally(() => process.kill(process.pid, signal));
  };
  for (const signal of INTERRUPTS) process.once(signal, onSignal);
  return () => {
    for (const signal of INTERRUPTS) process.removeListener(signal, onSignal);
  };
}

export async function runVerifyKubernetes(io: Io, loaded: LoadedSpec): Promise<number> {
  const localImages: Partial<Record<ImageComponent, string>> = {};
  for (const component of IMAGE_COMPONENTS) {
    const image = io.env[`OTELKIT_${component.toUpperCase()}_IMAGE`];
    if (image) localImages[component] = image;
  }
  const options: KubernetesVerifyOptions = {
    model: loaded.model,
    kubectl: io.env.KUBECTL ?? 'kubectl',
    kubeconfig: io.env.KUBECONFIG,
    localImages,
    progress: io.err,
    namespace: throwawayNamespace(),
  };
  const release = deleteOnInterrupt(options);
  let results;
  try {
    results = await verifyKubernetes(options);
  } finally {
    release();
  }
  for (const line of summaryTable(results)) io.out(line);
  const missing = results.filter((r) => !r.ok);
  if (missing.length > 0) {
    io.err(`verify --kubernetes failed: ${missing.map((r) => `${r.name} (${r.detail})`).join('; ')}`);
    return 1;
  }
  io.err(`verify --kubernetes passed: ${results.length} checks`);
  return 0;
}
