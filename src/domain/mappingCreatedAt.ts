import type { Activation } from './activation';

/**
 * `next` as it replaces `previous`: a segment that stays mapped keeps the `mappingCreatedAt` it
 * was first mapped with; only newly mapped segments take the one given now.
 */
export function keepMappingCreatedAt(previous: Activation | null, next: Activation): Activation {
  const created = new Map(previous?.segments.map((s) => [s.id, s.mappingCreatedAt]));
  return {
    ...next,
    segments: next.segments.map((segment) => {
      const first = created.get(segment.id);
      return first === undefined ? segment : { ...segment, mappingCreatedAt: first };
    }),
  };
}
