/**
 * Finds, in the repository's own source, the error codes it throws or answers with and the dead-letter reasons it
 * emits, by reading the syntax tree (TypeScript's parser, no type checking: a second or two for the whole tree).
 * tsc already refuses a code the catalogue lacks wherever a parameter is typed as ErrorCode; this finds the places a
 * type cannot reach (a code in a plain reply object, a reason handed on as a string).
 */
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import ts from 'typescript';

export const REPO_ROOT = path.resolve(import.meta.dirname, '../..');

/** Folders holding the code that runs (tests excluded: they name codes to expect them, not to throw them). */
const SOURCE_DIRS = ['core', 'bus', 'influxdb', 'protocols', 'gateway', 'uplink', 'ingest', 'rules', 'dashboards', 'simulators', 'deploy', 'bench', 'bin', 'test/harness'];

/** What a code looks like: upper case words joined by underscores (`INFLUX_QUERY`, `UNAUTHENTICATED`). */
export const CODE_PATTERN = /^[A-Z][A-Z0-9]*(?:_[A-Z0-9]+)*$/;
/** What a reason looks like: lower case words joined by underscores (`ts_too_old`). */
export const REASON_PATTERN = /^[a-z][a-z0-9]*(?:_[a-z0-9]+)*$/;

export interface Found {
  value: string;
  /** repository path:line */
  where: string;
}

export function sourceFiles(root = REPO_ROOT): string[] {
  const out: string[] = [];
  const walk = (dir: string): void => {
    for (const entry of readdirSync(path.join(root, dir), { withFileTypes: true })) {
      const rel = path.join(dir, entry.name);
      if (entry.isDirectory()) {
        if (entry.name !== 'node_modules' && entry.name !== 'vendor') walk(rel);
      } else if (entry.name.endsWith('.ts') && !entry.name.endsWith('.test.ts')) out.push(rel);
    }
  };
  for (const dir of SOURCE_DIRS) walk(dir);
  return out.sort();
}

/** The string literals an expression can evaluate to: a literal, either branch of a conditional, `x ?? 'y'`. */
function literals(node: ts.Expression | undefined): ts.StringLiteralLike[] {
  if (!node) return [];
  if (ts.isStringLiteralLike(node)) return [node];
  if (ts.isParenthesizedExpression(node)) return literals(node.expression);
  if (ts.isConditionalExpression(node)) return [...literals(node.whenTrue), ...literals(node.whenFalse)];
  if (ts.isBinaryExpression(node) && (node.operatorToken.kind === ts.SyntaxKind.QuestionQuestionToken || node.operatorToken.kind === ts.SyntaxKind.BarBarToken)) {
    return [...literals(node.left), ...literals(node.right)];
  }
  return [];
}

const calleeName = (e: ts.Expression): string | undefined =>
  ts.isIdentifier(e) ? e.text : ts.isPropertyAccessExpression(e) ? e.name.text : undefined;

/** Functions that take a code and throw or emit it, and which argument it is (they type it ErrorCode too). */
const CODE_ARGUMENT: Record<string, number> = { report: 0, badParameter: 2, connectFeedClient: 1 };

/**
 * Calls that hand on a dead-letter or reject reason, and which argument is the reason: the shared decoder's `fail`,
 * ingest's `reject` (validate.ts's first argument, the dead-letter publisher's third)/`deadLetter`/`countRejected`,
 * bus/topics.ts's `deadLetterFor`, PayloadError.
 */
const REASON_ARGUMENT: Record<string, number[]> = { PayloadError: [0], fail: [0], reject: [0, 2], deadLetter: [2], deadLetterFor: [3], countRejected: [1] };
/** Files whose `fail`/`reject`/`deadLetter` calls are the ones above (other files have functions of those names). */
const REASON_FILES = ['core/reading.ts', 'bus/topics.ts', 'dashboards/live-feed.ts'];
/** Whole stages whose modules hand reasons on: a job moved to a new module of theirs is still read. */
const REASON_FOLDERS = ['ingest/', 'rules/'];

/** What a throw says about its code besides the code: TransportError's `retryable`, HttpError's status. */
export interface CodeFact extends Found {
  /** A literal true/false, or `expression` when it is computed. */
  retryable?: boolean | 'expression';
  http?: number;
}

export interface ScanResult {
  codes: Found[];
  reasons: Found[];
  facts: CodeFact[];
}

export function scanSource(root = REPO_ROOT): ScanResult {
  const codes: Found[] = [];
  const reasons: Found[] = [];
  const facts: CodeFact[] = [];
  for (const file of sourceFiles(root)) {
    const text = readFileSync(path.join(root, file), 'utf8');
    const sf = ts.createSourceFile(file, text, ts.ScriptTarget.ES2022, true, ts.ScriptKind.TS);
    const where = (n: ts.Node): string => `${file}:${sf.getLineAndCharacterOfPosition(n.getStart(sf)).line + 1}`;
    const addCodes = (e: ts.Expression | undefined): void => {
      for (const lit of literals(e)) if (CODE_PATTERN.test(lit.text)) codes.push({ value: lit.text, where: where(lit) });
    };
    const reasonFile = REASON_FILES.includes(file) || REASON_FOLDERS.some((folder) => file.startsWith(folder));
    const visit = (node: ts.Node): void => {
      // new SomethingError('CODE', ...), new HttpError(400, 'CODE', ...), super('CODE', ...) in an error class
      if (ts.isNewExpression(node) || (ts.isCallExpression(node) && node.expression.kind === ts.SyntaxKind.SuperKeyword)) {
        const name = ts.isNewExpression(node) ? calleeName(node.expression) : 'super';
        const args = node.arguments ?? [];
        if (name && (name.endsWith('Error') || name === 'super') && name !== 'PayloadError' && name !== 'Hj212Error') {
          const first = args[0];
          addCodes(first && ts.isNumericLiteral(first) ? args[1] : first);
          const retry = args[2];
          if (name === 'TransportError' && retry) {
            const retryable = retry.kind === ts.SyntaxKind.TrueKeyword ? true : retry.kind === ts.SyntaxKind.FalseKeyword ? false : 'expression';
            for (const lit of literals(args[0])) facts.push({ value: lit.text, where: where(lit), retryable });
          }
          if (name === 'HttpError' && first && ts.isNumericLiteral(first)) {
            for (const lit of literals(args[1])) facts.push({ value: lit.text, where: where(lit), http: Number(first.text) });
          }
        }
      }
      if (ts.isCallExpression(node)) {
        const name = calleeName(node.expression);
        const index = name === undefined ? undefined : CODE_ARGUMENT[name];
        if (index !== undefined) addCodes(node.arguments[index]);
        // badParameter answers 400 (dashboards/params.ts)
        if (name === 'badParameter') for (const lit of literals(node.arguments[2])) facts.push({ value: lit.text, where: where(lit), http: 400 });
      }
      // a reply object: { statusCode, code: 'CODE', ... }
      if (ts.isObjectLiteralExpression(node)) {
        const props = new Map<string, ts.Expression>();
        for (const p of node.properties) if (ts.isPropertyAssignment(p) && (ts.isIdentifier(p.name) || ts.isStringLiteral(p.name))) props.set(p.name.text, p.initializer);
        if (props.has('code') && props.has('statusCode')) {
          addCodes(props.get('code'));
          const status = props.get('statusCode');
          if (status && ts.isNumericLiteral(status)) for (const lit of literals(props.get('code'))) facts.push({ value: lit.text, where: where(lit), http: Number(status.text) });
        }
      }
      // reasons
      if ((ts.isCallExpression(node) || ts.isNewExpression(node)) && node.arguments) {
        const name = calleeName(node.expression);
        const indices = name !== undefined && Object.hasOwn(REASON_ARGUMENT, name) ? REASON_ARGUMENT[name] : undefined;
        if (indices !== undefined && (name === 'PayloadError' || reasonFile)) {
          for (const index of indices) for (const lit of literals(node.arguments[index])) if (REASON_PATTERN.test(lit.text)) reasons.push({ value: lit.text, where: where(lit) });
        }
      }
      // a fallback for an error that has no reason: err instanceof PayloadError ? err.reason : 'internal_error'
      if (reasonFile && ts.isConditionalExpression(node) && ts.isPropertyAccessExpression(node.whenTrue) && node.whenTrue.name.text === 'reason') {
        for (const lit of literals(node.whenFalse)) if (REASON_PATTERN.test(lit.text)) reasons.push({ value: lit.text, where: where(lit) });
      }
      // a counter named by its reason: stats.rejected.write_rejected
      if (reasonFile && ts.isPropertyAccessExpression(node) && ts.isPropertyAccessExpression(node.expression) && node.expression.name.text === 'rejected') {
        reasons.push({ value: node.name.text, where: where(node.name) });
      }
      ts.forEachChild(node, visit);
    };
    visit(sf);
  }
  return { codes, reasons, facts };
}
