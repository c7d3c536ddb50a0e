import {
  AlwaysOffSampler,
  AlwaysOnSampler,
  ParentBasedSampler,
  SamplingDecision,
  TraceIdRatioBasedSampler,
  type Sampler,
} from '@opentelemetry/sdk-trace';
import { DEBUG_ATTRIBUTE, type PreloadSettings } from '../settings.ts';

/**
 * OTEL_TRACES_SAMPLER overrides the generated sampler. Whatever is chosen, a request carrying a
 * valid debug token is recorded and sampled: that is the whole point of the token.
 */
export function createSampler(
  settings: PreloadSettings,
  env: NodeJS.ProcessEnv,
  warn: (m: string) => void,
): Sampler {
  const name = env.OTEL_TRACES_SAMPLER?.trim() || settings.sampler.type;
  const argument = Number(env.OTEL_TRACES_SAMPLER ? env.OTEL_TRACES_SAMPLER_ARG : settings.sampler.ratio);
  const ratio = Number.isFinite(argument) && argument >= 0 && argument <= 1 ? argument : 1;
  let base: Sampler;
  switch (name) {
    case 'always_on':
      base = new AlwaysOnSampler();
      break;
    case 'always_off':
      base = new AlwaysOffSampler();
      break;
    case 'traceidratio':
      base = new TraceIdRatioBasedSampler(ratio);
      break;
    case 'parentbased_always_off':
      base = new ParentBasedSampler({ root: new AlwaysOffSampler() });
      break;
    case 'parentbased_traceidratio':
      base = new ParentBasedSampler({ root: new TraceIdRatioBasedSampler(ratio) });
      break;
    default:
      if (name !== 'parentbased_always_on')
        warn(`unknown OTEL_TRACES_SAMPLER ${name}; using parentbased_always_on`);
      base = new ParentBasedSampler({ root: new AlwaysOnSampler() });
  }
  return {
    shouldSample(context, traceId, spanName, spanKind, attributes, links) {
      if (attributes[DEBUG_ATTRIBUTE] === true) return { decision: SamplingDecision.RECORD_AND_SAMPLED };
      return base.shouldSample(context, traceId, spanName, spanKind, attributes, links);
    },
    toString: () => `OtelkitDebugAware{${base.toString()}}`,
  };
}
