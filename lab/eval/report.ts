// results.md: the run's Tables II and III shaped like the paper's, the paper's own numbers beside
// them, and what each recognizer's authors report for clean LFW (the sanity check of its GT row).
import type { LfwEvalResult } from './lfw.ts';

/** The paper's Table II (PSNR dB, SSIM on its LFW crops). */
export const PAPER_TABLE_II = {
  columns: ['OCC', 'PM', 'GFC', 'CL', 'CA', 'Our-w/oID', 'Our-wID'],
  psnr: [14.2216, 17.8044, 29.6279, 25.9527, 31.0113, 31.166, 31.5588],
  ssim: [0.8874, 0.8912, 0.935, 0.8897, 0.9565, 0.9584, 0.9598],
};

/** The paper's Table III (verification accuracy %, LFW). */
export const PAPER_TABLE_III = {
  columns: ['OCC', 'PM', 'GFC', 'CL', 'CA', 'Our-tri', 'Our-cent', 'Our-w/oID', 'Our-wID', 'GT'],
  rows: [
    ['VGGFace', [83.2, 83.22, 91.05, 88.42, 90.2, 92.63, 92.83, 92.5, 93.58, 98.95]],
    ['CenterLoss', [74.32, 75.45, 87.45, 83.42, 84.65, 86.98, 87.62, 87.77, 88.68, 99.28]],
    ['SphereFace', [75.42, 73.67, 85.28, 84.1, 81.55, 84.57, 85.9, 85.0, 86.02, 99.42]],
    ['VGGFace2', [89.15, 90.08, 95.32, 94.43, 95.97, 95.52, 95.65, 96.12, 96.53, 99.53]],
    ['ArcFace', [85.8, 84.83, 94.83, 93.4, 91.96, 94.47, 95.62, 95.06, 96.47, 99.82]],
    ['Average', [82.04, 81.55, 90.69, 88.86, 88.28, 90.83, 91.52, 91.22, 92.26, 99.4]],
  ] as [string, number[]][],
};

/** Our condition → the paper's column it stands in for. */
export const PAPER_COUNTERPART: Record<string, string> = {
  OCC: 'OCC',
  Telea: 'PM (both classical, exemplar/diffusion fills)',
  'idgan-inpaint-woid': 'Our-w/oID',
  'idgan-inpaint': 'Our-wID',
  GT: 'GT',
};

/** What each recognizer's authors report on clean LFW: the range its GT row should fall in. */
export const AUTHOR_REPORTS: Record<string, string> = {
  faceapi:
    'dlib\'s ResNet (which face-api ports) is reported at 99.38% on LFW (View 2, 10-fold) by dlib and in face-api.js\'s README.',
  faceplugin:
    'The package states no LFW figure (its README only claims NIST FRVT ranks for the vendor\'s commercial SDK). The model is a ' +
    '~4.9 MB, 512-D network on the ArcFace 112 template, the MobileFaceNet class, for which Chen et al. 2018 report 99.55% on LFW.',
  faceres:
    'HSE-FaceRes (Savchenko, PeerJ CS 2019) is an age/gender/identity MobileNet; Human ships it as a descriptor for face matching. ' +
    'No LFW verification accuracy for this exact model was found in the sources available here (Human\'s docs give none; they ' +
    'call a similarity above 0.5 a match), so its GT row is judged by being high and near the others, not against a figure.',
};

const pct = (x: number) => (100 * x).toFixed(2);

function table(header: string[], rows: string[][]): string[] {
  return [`| ${header.join(' | ')} |`, `|${header.map(() => '---').join('|')}|`, ...rows.map((r) => `| ${r.join(' | ')} |`)];
}

/** GT last, as the paper's Table III. */
function tableThreeOrder(conditions: string[]): string[] {
  return [...conditions.filter((c) => c !== 'GT'), ...conditions.filter((c) => c === 'GT')];
}

export interface ReportContext {
  command: string;
  models: Record<string, string>;
  /** PNG files written beside results.md, by figure. */
  figures: { montage?: string; bars?: string; tsne?: string };
  /** Wall time of the run, seconds. */
  seconds: number;
}

export function resultsMarkdown(result: LfwEvalResult, context: ReportContext): string {
  const recognizers = Object.keys(result.accuracy);
  const conditions = recognizers.length > 0 ? Object.keys(result.accuracy[recognizers[0]]) : [];
  const restoring = Object.keys(result.psnr);
  const lines = [
    '# LFW evaluation',
    '',
    `\`${context.command}\``,
    '',
    `${result.n_pairs} pairs, ${result.n_images} images (Table II over ${result.n_quality_images}), hole seed ${result.seed}, ` +
      `${context.seconds.toFixed(0)} s (computed this run: ${result.computed.landmarks} detections, ${result.computed.quality} quality rows, ` +
      `${result.computed.embeddings} embeddings; the rest from the cache). Alignment: ${result.detection.detector} found ` +
      `${result.detection.found} faces; ${result.detection.fallback} image(s) aligned at the mean position.`,
    '',
  ];
  if (restoring.length > 0) {
    lines.push(
      '## Table II: inpainting quality against GT (128×128 RGB, 48×48 hole at a seeded random place)',
      '',
      ...table(['Metric', ...restoring], [
        ['PSNR (dB)', ...restoring.map((c) => result.psnr[c].toFixed(4))],
        ['SSIM', ...restoring.map((c) => result.ssim[c].toFixed(4))],
      ]),
      '',
      "The paper's Table II (its LFW crops, 48×48 white blocks):",
      '',
      ...table(['Metric', ...PAPER_TABLE_II.columns], [
        ['PSNR (dB)', ...PAPER_TABLE_II.psnr.map((v) => v.toFixed(4))],
        ['SSIM', ...PAPER_TABLE_II.ssim.map((v) => v.toFixed(4))],
      ]),
      '',
    );
  }
  if (recognizers.length > 0) {
    const order = tableThreeOrder(conditions);
    const average = order.map((c) => recognizers.reduce((s, r) => s + result.accuracy[r][c].mean, 0) / recognizers.length);
    lines.push(
      '## Table III: verification accuracy (%), 10-fold, mean ± std over the folds',
      '',
      ...table(['Recognizer', ...order], [
        ...recognizers.map((r) => [r, ...order.map((c) => `${pct(result.accuracy[r][c].mean)} ± ${pct(result.accuracy[r][c].std)}`)]),
        ['Average', ...average.map(pct)],
      ]),
      '',
      'ROC AUC:',
      '',
      ...table(['Recognizer', ...order], recognizers.map((r) => [r, ...order.map((c) => result.auc[r][c].toFixed(4))])),
      '',
      "The paper's Table III (LFW, five recognizers trained on large face sets):",
      '',
      ...table(['Model', ...PAPER_TABLE_III.columns], PAPER_TABLE_III.rows.map(([name, values]) => [name, ...values.map((v) => v.toFixed(2))])),
      '',
      'Columns that correspond: ' +
        conditions.filter((c) => PAPER_COUNTERPART[c]).map((c) => `${c} ↔ ${PAPER_COUNTERPART[c]}`).join('; ') + '.',
      '',
      '## Recognizers',
      '',
      ...table(['Id', 'What', 'Version', 'GT here', 'Its authors report'], recognizers.map((r) => [
        r,
        result.recognizers[r].description,
        `\`${result.recognizers[r].version}\``,
        conditions.includes('GT') ? `${pct(result.accuracy[r].GT.mean)}%` : '—',
        AUTHOR_REPORTS[r] ?? '—',
      ])),
      '',
    );
  }
  const figures = Object.entries({
    'Fig. 4-style montage (GT, OCC, each method)': context.figures.montage,
    'Fig. 6-style accuracy per condition and recognizer': context.figures.bars,
    'Fig. 7-style t-SNE of identity features': context.figures.tsne,
  }).filter((entry): entry is [string, string] => entry[1] !== undefined);
  if (figures.length > 0) lines.push('## Figures', '', ...figures.flatMap(([title, file]) => [`${title}:`, '', `![${title}](${file})`, '']));
  if (Object.keys(context.models).length > 0)
    lines.push('## Models', '', ...table(['Model', 'SHA-256'], Object.entries(context.models).map(([name, sha]) => [name, `\`${sha}\``])), '');
  return lines.join('\n');
}
