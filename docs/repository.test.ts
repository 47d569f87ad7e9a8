import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';

const ROOT = path.resolve(import.meta.dirname, '..');
const SELF = 'docs/repository.test.ts';
const tracked = execFileSync('git', ['ls-files', '-z'], { cwd: ROOT, encoding: 'utf8' })
  .split('\0')
  .filter((f) => f && f !== SELF && /\.(ts|js|md|ya?ml|json|sh|conf|html|css)$/.test(f) && !f.startsWith('dashboards/web/vendor/') && f !== 'package-lock.json');
const texts = tracked.filter((f) => existsSync(path.join(ROOT, f))).map((f) => ({ file: f, text: readFileSync(path.join(ROOT, f), 'utf8') }));

/** Notes kept outside the repository, under names they had there, and absolute paths of the machine it was written on. */
const OUTSIDE = /shared\/reference|reference\/[\w-]+\.md|(?<!docs\/)\bhj212\.md|\bstack\.md|\bpeers\.md|limits-and-baselines|architecture-sketch|(?<![\w.])\/work\//;

/** Inside docs/, a page of docs/ is named without the folder: `hj212.md` there is docs/hj212.md. */
function inDocs(file: string, line: string): string {
  if (!file.startsWith('docs/')) return line;
  return line.replace(/`([\w-]+\.md)`/g, (whole, page: string) => (existsSync(path.join(ROOT, 'docs', page)) ? `docs/${page}` : whole));
}

describe('the repository stands alone', () => {
  it('cites no notes outside it: standards, public sources and docs/ instead', () => {
    const found = texts.flatMap(({ file, text }) =>
      text.split('\n').flatMap((line, i) => (OUTSIDE.test(inDocs(file, line)) ? [`${file}:${i + 1}: ${line.trim().slice(0, 120)}`] : [])),
    );
    expect(found).toEqual([]);
  });

  it('has every docs/ page it cites', () => {
    const cited = new Set(texts.flatMap(({ text }) => [...text.matchAll(/\bdocs\/([\w-]+\.md)\b/g)].map((m) => m[1]!)));
    expect(cited.size).toBeGreaterThan(0);
    expect([...cited].filter((page) => !existsSync(path.join(ROOT, 'docs', page)))).toEqual([]);
  });
});
