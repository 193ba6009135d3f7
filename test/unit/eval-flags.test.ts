import { describe, expect, it } from 'vitest';
import { EvalFlagError, idganModelNames, parseNameList } from '../../lab/eval/flags.ts';

const KNOWN = ['GT', 'OCC', 'Telea', 'idgan-inpaint'];

describe('parseNameList', () => {
  it('keeps the known order whatever order the flag gives, and trims spaces', () => {
    expect(parseNameList('--conditions', 'idgan-inpaint, GT ,OCC', KNOWN)).toEqual(['GT', 'OCC', 'idgan-inpaint']);
  });

  it.each([
    ['GT,', /an empty name/],
    ['', /an empty name/],
    ['OCC,OCC', /names OCC twice/],
    ['GT,PM,CA', /unknown "PM", "CA"; available: GT, OCC, Telea, idgan-inpaint/],
    ['gt', /unknown "gt"/],
  ])('refuses %j', (value, message) => {
    expect(() => parseNameList('--conditions', value, KNOWN)).toThrow(EvalFlagError);
    expect(() => parseNameList('--conditions', value, KNOWN)).toThrow(message);
  });

  it('says when nothing is available', () => {
    expect(() => parseNameList('--recognizers', 'x', [])).toThrow(/available: none/);
  });
});

describe('idganModelNames', () => {
  it('takes idgan-*.onnx files only, named after the file, sorted', () => {
    expect(idganModelNames(['idgan-inpaint-woid.onnx', 'occlusion.onnx', 'idgan-inpaint.onnx', 'idgan-inpaint.onnx.tmp', 'idgan-.onnx', 'README.md'])).toEqual([
      'idgan-inpaint',
      'idgan-inpaint-woid',
    ]);
  });
});
