import type { Model } from '../model/model.ts';

/**
 * What a target returns: typed content plus where it goes. Serialisation and the "generated"
 * header are added in emit, so targets stay pure and testable as data.
 */
export type Artifact =
  | { path: string; format: 'yaml'; content: unknown }
  | { path: string; format: 'json'; content: unknown }
  | { path: string; format: 'text'; content: string; comment: CommentStyle }
  /**
   * A file of the package itself (path from the package root, e.g. a runtime's source), copied as
   * it is with the header in its comment style; emit reads it, so targets stay free of I/O.
   */
  | { path: string; format: 'copy'; source: string; comment: CommentStyle; content?: undefined };

/** How a text artifact spells a comment line, for the header; `none` for formats without comments. */
export type CommentStyle = 'hash' | 'slash' | 'html' | 'none';

export interface Target {
  /** Short id used in progress output and tests, e.g. `collector`. */
  name: string;
  description: string;
  generate(model: Model): Artifact[];
}
