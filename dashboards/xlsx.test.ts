import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { xlsxWorkbook } from './xlsx.ts';

/**
 * Python's zipfile (CRCs, sizes, directory) and ElementTree read the file back: a reader that is not this code. Each
 * cell comes out as ref=type:value.
 */
const READ_BACK = `
import sys, zipfile, xml.etree.ElementTree as ET
z = zipfile.ZipFile(sys.argv[1])
assert z.testzip() is None
for name in z.namelist(): ET.fromstring(z.read(name))
ns = {'m': 'http://schemas.openxmlformats.org/spreadsheetml/2006/main'}
sheet = ET.fromstring(z.read('xl/worksheets/sheet1.xml'))
for c in sheet.iter('{%s}c' % ns['m']):
    t = c.get('t', 'n')
    v = c.find('m:is/m:t', ns) if t == 'inlineStr' else c.find('m:v', ns)
    print('%s=%s:%s' % (c.get('r'), t, v.text))
print(ET.fromstring(z.read('xl/workbook.xml')).find('m:sheets/m:sheet', ns).get('name'))
`;

describe('xlsx workbook', () => {
  it('writes a zip of well-formed SpreadsheetML whose cells read back with their types; null cells are left empty', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'cleanstream-xlsx-'));
    try {
      const file = path.join(dir, 'book.xlsx');
      writeFileSync(file, xlsxWorkbook('减排 reductions', [['month', 'plant', 'discharged_t', 'partial'], ['2026-11', 'a<b&"c"', 0.0123, true], ['2026-10', '造纸', null, false]]));
      const read = spawnSync('python3', ['-c', READ_BACK, file], { encoding: 'utf8' });
      expect(read.stderr).toBe('');
      expect(read.stdout.trim().split('\n')).toEqual([
        'A1=inlineStr:month', 'B1=inlineStr:plant', 'C1=inlineStr:discharged_t', 'D1=inlineStr:partial',
        'A2=inlineStr:2026-11', 'B2=inlineStr:a<b&"c"', 'C2=n:0.0123', 'D2=b:1',
        'A3=inlineStr:2026-10', 'B3=inlineStr:造纸', 'D3=b:0',
        '减排 reductions',
      ]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
