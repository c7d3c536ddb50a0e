import { ValueType, type Attributes, type HrTime } from '@opentelemetry/api';
import {
  AggregationTemporality,
  DataPointType,
  type CollectionResult,
  type MetricProducer,
} from '@opentelemetry/sdk-metrics';

/**
 * The request-duration histogram, aggregated here rather than through the SDK instrument: the SDK
 * sorts and JSON-encodes the attribute set of every measurement to find its series, which was the
 * largest single cost per request. Series are found through one small map per label (route, then
 * frontend, method and status): those strings come from bounded sets and keep their hash, where a
 * joined key would be built and hashed anew per request. Each series holds a fixed array of bucket
 * counts, so a request allocates nothing once its series exists.
 * Cumulative, as Prometheus requires; the number of series is bounded by the bounded route set.
 */

interface Series {
  attributes: Attributes;
  counts: number[];
  sum: number;
  count: number;
  min: number;
  max: number;
}

const MAX_SERIES = 2000;
const hrNow = (): HrTime => {
  const ms = Date.now();
  return [Math.floor(ms / 1000), (ms % 1000) * 1e6];
};

type SeriesIndex = Map<string, Map<string, Map<string, Map<number, Series>>>>;

function child<K, V extends Map<unknown, unknown>>(level: Map<K, V>, key: K): V {
  let found = level.get(key);
  if (found === undefined) {
    found = new Map() as V;
    level.set(key, found);
  }
  return found;
}

export class DurationHistogram implements MetricProducer {
  private readonly index: SeriesIndex = new Map();
  private readonly series: Series[] = [];
  private readonly startTime = hrNow();
  private readonly boundaries: number[];
  private readonly scope: { name: string };

  constructor(boundaries: number[], scope: string) {
    this.boundaries = boundaries;
    this.scope = { name: scope };
  }

  record(seconds: number, method: string, status: number, route: string, frontend: string) {
    const byStatus = child(child(child(this.index, route), frontend), method);
    let series = byStatus.get(status);
    if (series === undefined) {
      if (this.series.length >= MAX_SERIES) return;
      series = {
        attributes: {
          'http.request.method': method,
          'http.response.status_code': status,
          'http.route': route,
          frontend,
        },
        counts: new Array<number>(this.boundaries.length + 1).fill(0),
        sum: 0,
        count: 0,
        min: Infinity,
        max: -Infinity,
      };
      byStatus.set(status, series);
      this.series.push(series);
    }
    const { boundaries } = this;
    let bucket = 0;
    while (bucket < boundaries.length && seconds > boundaries[bucket]!) bucket++;
    series.counts[bucket]!++;
    series.sum += seconds;
    series.count++;
    if (seconds < series.min) series.min = seconds;
    if (seconds > series.max) series.max = seconds;
  }

  collect(): Promise<CollectionResult> {
    const endTime = hrNow();
    const dataPoints = this.series.map((series) => ({
      startTime: this.startTime,
      endTime,
      attributes: series.attributes,
      value: {
        buckets: { boundaries: this.boundaries, counts: [...series.counts] },
        sum: series.sum,
        count: series.count,
        min: series.min,
        max: series.max,
      },
    }));
    const metrics =
      dataPoints.length === 0
        ? []
        : [
            {
              descriptor: {
                name: 'http.server.request.duration',
                description: 'Duration of HTTP server requests.',
                unit: 's',
                valueType: ValueType.DOUBLE,
              },
              aggregationTemporality: AggregationTemporality.CUMULATIVE,
              dataPointType: DataPointType.HISTOGRAM as const,
              dataPoints,
            },
          ];
    return Promise.resolve({
      // the reader takes the resource from the SDK's own producer; only scope metrics are merged
      resourceMetrics: {
        resource: undefined as never,
        scopeMetrics: metrics.length ? [{ scope: this.scope, metrics }] : [],
      },
      errors: [],
    });
  }
}
