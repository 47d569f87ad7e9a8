import { describe, expect, it } from 'vitest';
import { filterToStreamSubject, partitionMappingConfig, partitionOf, patternCovers, subjectToTopic, topicToSubject } from './subjects.ts';

describe('NATS subjects for the topic scheme', () => {
  it('writes the server mapping that partitions readings by plant (the first wildcard) into P partitions', () => {
    expect(partitionMappingConfig()).toBe(
      'mappings {\n  "cleanstream.v1.readings.*.*": "cleanstream.v1.partition.{{partition(16,1)}}.readings.{{wildcard(1)}}.{{wildcard(2)}}"\n}\n',
    );
    expect(partitionMappingConfig(4)).toContain('{{partition(4,1)}}');
    expect(() => partitionMappingConfig(0)).toThrow(/positive integer/);
  });

  it('turns topics and filters into subjects as the MQTT listener does (/ → ., + → *, # → >)', () => {
    expect(topicToSubject('cleanstream/v1/alerts/p1/r1/m1')).toBe('cleanstream.v1.alerts.p1.r1.m1');
    expect(topicToSubject('cleanstream/v1/alerts/+/+/#')).toBe('cleanstream.v1.alerts.*.*.>');
  });

  it('reads a readings filter from every partition, or from one', () => {
    expect(filterToStreamSubject('cleanstream/v1/readings/+/+')).toBe('cleanstream.v1.partition.*.readings.*.*');
    expect(filterToStreamSubject('cleanstream/v1/readings/p1/+', 3)).toBe('cleanstream.v1.partition.3.readings.p1.*');
    expect(filterToStreamSubject('cleanstream/v1/deadletter/ingest')).toBe('cleanstream.v1.deadletter.ingest');
    expect(() => filterToStreamSubject('cleanstream/v1/#')).toThrow(/spans/);
  });

  it('gives a stored subject back as the topic it was published on', () => {
    expect(subjectToTopic('cleanstream.v1.partition.11.readings.p1.gw-1')).toBe('cleanstream/v1/readings/p1/gw-1');
    expect(subjectToTopic('cleanstream.v1.alerts.p1.r1.m1')).toBe('cleanstream/v1/alerts/p1/r1/m1');
  });

  it('computes the partition as nats-server does: FNV-1a of the plant id, mod P', () => {
    // FNV-1a 32 of "a" is 0xe40c292c (the published test vector)
    expect(partitionOf('a', 2 ** 31)).toBe(0xe40c292c % 2 ** 31);
    expect(partitionOf('plant-1')).toBe(partitionOf('plant-1'));
    for (const plant of ['p1', 'p2', '厂区', 'x'.repeat(64)]) expect(partitionOf(plant)).toBeLessThan(16);
  });

  it('knows which stream subjects hold a filter', () => {
    expect(patternCovers('cleanstream.v1.alerts.>', 'cleanstream.v1.alerts.*.*.*')).toBe(true);
    expect(patternCovers('cleanstream.v1.alerts.>', 'cleanstream.v1.alerts')).toBe(false);
    expect(patternCovers('cleanstream.v1.partition.*.readings.*.*', 'cleanstream.v1.partition.3.readings.p1.*')).toBe(true);
    expect(patternCovers('cleanstream.v1.partition.*.readings.*.*', 'cleanstream.v1.partition.*.readings.>')).toBe(false);
    expect(patternCovers('cleanstream.v1.alerts.p1', 'cleanstream.v1.alerts.*')).toBe(false);
    expect(patternCovers('cleanstream.v1.alerts.>', 'cleanstream.v1.status.>')).toBe(false);
  });
});
