import type { RedactionModel } from '../model/model.ts';
import { FRONTEND_ATTRIBUTE, REQUEST_ID_ATTRIBUTE, UNKNOWN_FRONTEND } from '../model/conventions.ts';
import {
  LOG_LEVELS,
  REQUEST_ID,
  RESILIENCE_EVENTS,
  SPAN_ID,
  TRACE_ID,
  UTC_TIMESTAMP,
} from '../../runtime/standard.ts';

/**
 * `otelkit check logs`: JSON log lines from any runtime against the standard's schema. Required
 * fields and their types, levels, id formats, the resilience-event contract, and that nothing matches
 * the spec's redaction (a blocked key with a value, or a value matching a pattern).
 */

export interface LogProblem {
  line: number;
  message: string;
}

export interface LogCheckOptions {
  redaction: RedactionModel;
  /** Allowed X-Frontend-ID values of the spec's services; `unknown` is always allowed. */
  frontends?: readonly string[];
}

export const REDACTED_VALUE = /^\[REDACTED(?::[a-z0-9_-]+)?\]$/;

/** The RE2 inline-flag prefix JavaScript lacks; the rest of the syntax the spec allows is shared. */
function re2(regex: string): RegExp {
  const flagged = /^\(\?([a-z]+)\)/.exec(regex);
  if (!flagged) return new RegExp(regex);
  return new RegExp(regex.slice(flagged[0].length), flagged[1]!.replace(/[^ims]/g, ''));
}

const isString = (value: unknown): value is string => typeof value === 'string';
const describe = (value: unknown) =>
  value === null ? 'null' : Array.isArray(value) ? 'array' : typeof value;

export function checkLogLine(text: string, options: LogCheckOptions): string[] {
  let record: unknown;
  try {
    record = JSON.parse(text);
  } catch {
    return ['not JSON: each line must be one JSON object'];
  }
  if (record === null || typeof record !== 'object' || Array.isArray(record)) {
    return [`a ${describe(record)}, not a JSON object`];
  }
  const line = record as Record<string, unknown>;
  const problems: string[] = [];
  const required = (field: string) => {
    if (!(field in line)) problems.push(`missing required field "${field}"`);
    return field in line;
  };

  if (required('timestamp')) {
    const value = line.timestamp;
    if (!isString(value) || !UTC_TIMESTAMP.test(value) || Number.isNaN(Date.parse(value)))
      problems.push(
        `timestamp ${JSON.stringify(value)} is not ISO 8601 in UTC (e.g. 2026-03-01T12:00:00.123Z)`,
      );
  }
  if (required('level')) {
    const level = line.level;
    if (!isString(level) || !(LOG_LEVELS as readonly string[]).includes(level)) {
      const hint =
        isString(level) && (LOG_LEVELS as readonly string[]).includes(level.toLowerCase())
          ? ` (write it in lower case: ${level.toLowerCase()})`
          : level === 'warn'
            ? ' (the standard spells it warning)'
            : level === 'fatal'
              ? ' (the standard calls it critical)'
              : '';
      problems.push(`level ${JSON.stringify(level)} is not one of ${LOG_LEVELS.join(', ')}${hint}`);
    }
  }
  if (required('logger') && (!isString(line.logger) || line.logger === ''))
    problems.push('logger must be a non-empty string (the module or component name)');
  if (!('message' in line) && !('event' in line))
    problems.push('missing the message: a "message" or "event" field');
  for (const field of ['message', 'event', 'service', 'environment', 'source'])
    if (field in line && !isString(line[field]))
      problems.push(`${field} must be a string, not ${describe(line[field])}`);
  // the standard has both on every record: the function that logged and its line in the source
  if (required('func_name') && (!isString(line.func_name) || line.func_name === ''))
    problems.push('func_name must be a non-empty string (the function that emitted the record)');
  if (required('lineno') && !(Number.isInteger(line.lineno) && (line.lineno as number) >= 0))
    problems.push('lineno must be a non-negative integer (the line in the source file)');

  const optionalId = (field: string, format: RegExp, what: string) => {
    if (!(field in line) || line[field] === null) return;
    const value = line[field];
    if (!isString(value) || !format.test(value))
      problems.push(`${field} ${JSON.stringify(value)} is not ${what}`);
  };
  optionalId(REQUEST_ID_ATTRIBUTE, REQUEST_ID, '1-128 characters of A-Z a-z 0-9 . _ : -');
  optionalId('trace_id', TRACE_ID, '32 lower-case hex digits (not all zero)');
  optionalId('span_id', SPAN_ID, '16 lower-case hex digits (not all zero)');
  if (isString(line.span_id) && !line.trace_id) problems.push('span_id without trace_id');

  if (FRONTEND_ATTRIBUTE in line && line[FRONTEND_ATTRIBUTE] !== null) {
    const frontend = line[FRONTEND_ATTRIBUTE];
    if (!isString(frontend)) problems.push(`${FRONTEND_ATTRIBUTE} must be a string`);
    else if (options.frontends && frontend !== UNKNOWN_FRONTEND && !options.frontends.includes(frontend))
      problems.push(
        `${FRONTEND_ATTRIBUTE} "${frontend}" is not in the spec's allow-list (${[...options.frontends, UNKNOWN_FRONTEND].join(', ')})`,
      );
  }

  if ('resilience_event' in line) problems.push(...resilienceProblems(line));
  problems.push(...redactionProblems(line, options.redaction));
  return problems;
}

function resilienceProblems(line: Record<string, unknown>): string[] {
  const problems: string[] = [];
  const event = line.resilience_event;
  if (!isString(event) || !(event in RESILIENCE_EVENTS)) {
    problems.push(
      `resilience_event ${JSON.stringify(event)} is not one of ${Object.keys(RESILIENCE_EVENTS).join(', ')}`,
    );
  } else {
    const level = RESILIENCE_EVENTS[event as keyof typeof RESILIENCE_EVENTS];
    if (line.level !== level)
      problems.push(`resilience_event ${event} is logged at ${level}, not ${String(line.level)}`);
  }
  if (!isString(line.dependency) || line.dependency === '')
    problems.push('a resilience event needs "dependency": the name of the external dependency');
  const attempt = line.attempt;
  if (attempt !== undefined && attempt !== null && !(Number.isInteger(attempt) && (attempt as number) >= 1))
    problems.push('attempt must be a 1-based integer, or null for events that are not retries');
  if (line.duration_ms !== undefined && line.duration_ms !== null && typeof line.duration_ms !== 'number')
    problems.push('duration_ms must be a number');
  if (line.error !== undefined && line.error !== null && !isString(line.error))
    problems.push('error must be a string');
  return problems;
}

function redactionProblems(line: Record<string, unknown>, redaction: RedactionModel): string[] {
  const blocked = new Set(redaction.blockedKeys);
  const patterns = redaction.valuePatterns.map(({ name, regex }) => ({ name, regex: re2(regex) }));
  const problems: string[] = [];
  const isBlocked = (key: string) => {
    const lower = key.toLowerCase();
    const last = lower.slice(lower.lastIndexOf('.') + 1);
    return (
      blocked.has(lower) ||
      blocked.has(last) ||
      [...blocked].some(
        (name) => last.endsWith(name) && ['_', '-'].includes(last[last.length - name.length - 1]!),
      )
    );
  };
  const walk = (value: unknown, at: string, depth: number) => {
    if (depth > 16) return;
    if (isString(value)) {
      for (const { name, regex } of patterns)
        if (regex.test(value)) problems.push(`${at} has a value matching the redaction pattern ${name}`);
      return;
    }
    if (value === null || typeof value !== 'object') return;
    for (const [key, item] of Object.entries(value)) {
      const path = Array.isArray(value) ? `${at}[${key}]` : at ? `${at}.${key}` : key;
      if (
        !Array.isArray(value) &&
        isBlocked(key) &&
        item !== null &&
        !(isString(item) && REDACTED_VALUE.test(item))
      )
        problems.push(`${path} is a blocked key with a value that is not [REDACTED]`);
      else walk(item, path, depth + 1);
    }
  };
  walk(line, '', 0);
  return problems;
}

export function checkLogs(text: string, options: LogCheckOptions): { lines: number; problems: LogProblem[] } {
  const problems: LogProblem[] = [];
  let lines = 0;
  text.split('\n').forEach((raw, index) => {
    const content = raw.replace(/\r$/, '');
    if (content.trim() === '') return;
    lines += 1;
    for (const message of checkLogLine(content, options)) problems.push({ line: index + 1, message });
  });
  return { lines, problems };
}
