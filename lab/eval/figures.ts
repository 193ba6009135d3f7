// The paper's figures for a run, drawn as SVG and rendered to PNG with sharp: Fig. 4 (a montage of
// faces under every condition), Fig. 6 (accuracy per condition, here per recognizer too) and
// Fig. 7 (t-SNE of identity features, a panel per condition).
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import sharp from 'sharp';
import type { RgbImage } from '../../src/types.ts';
import type { LfwEvalFigures, LfwEvalResult, MeanStd } from './lfw.ts';
import type { LfwImage } from './pairs.ts';
import { tsne } from './tsne.ts';

const FONT = 'font-family="DejaVu Sans, sans-serif"';
const PALETTE = ['#1f77b4', '#ff7f0e', '#2ca02c', '#d62728', '#9467bd', '#8c564b', '#e377c2', '#7f7f7f', '#bcbd22', '#17becf'];

const escapeXml = (s: string) => s.replace(/[<>&"']/g, (c) => `&#${c.charCodeAt(0)};`);

export async function svgToPng(svg: string): Promise<Buffer> {
  return sharp(Buffer.from(svg)).png().toBuffer();
}

async function pngDataUri(image: RgbImage): Promise<string> {
  const png = await sharp(Buffer.from(image.data), { raw: { width: image.width, height: image.height, channels: 3 } }).png().toBuffer();
  return `data:image/png;base64,${png.toString('base64')}`;
}

/** Fig. 4: one row per face, one column per condition, the condition names on top. */
export function montageSvg(rows: { image: string; crops: string[] }[], conditions: readonly string[], cell = 128): string {
  if (rows.length === 0) throw new RangeError('a montage needs at least one face');
  for (const row of rows)
    if (row.crops.length !== conditions.length) throw new RangeError(`face ${row.image} has ${row.crops.length} crops for ${conditions.length} conditions`);
  const gap = 4, head = 24;
  const width = conditions.length * (cell + gap) + gap, height = head + rows.length * (cell + gap) + gap;
  const parts = [`<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}"><rect width="100%" height="100%" fill="white"/>`];
  conditions.forEach((name, c) =>
    parts.push(`<text x="${gap + c * (cell + gap) + cell / 2}" y="17" ${FONT} font-size="13" text-anchor="middle">${escapeXml(name)}</text>`),
  );
  rows.forEach((row, r) =>
    row.crops.forEach((uri, c) =>
      parts.push(`<image x="${gap + c * (cell + gap)}" y="${head + r * (cell + gap)}" width="${cell}" height="${cell}" href="${uri}"/>`),
    ),
  );
  parts.push('</svg>');
  return parts.join('');
}

/** The bars' y-axis floor: 5 points under the lowest accuracy, on a multiple of 5 %, never below 0. */
export function accuracyAxisFloor(values: readonly number[]): number {
  const lowest = Math.min(...values.map((v) => 100 * v));
  return Math.max(0, Math.floor((lowest - 5) / 5) * 5);
}

/** Fig. 6: grouped bars, a group per condition, a bar per recognizer, with the fold std as whiskers. */
export function accuracyBarsSvg(accuracy: Record<string, Record<string, MeanStd>>): string {
  const recognizers = Object.keys(accuracy);
  if (recognizers.length === 0) throw new RangeError('no recognizer to plot');
  const conditions = Object.keys(accuracy[recognizers[0]]);
  for (const r of recognizers)
    for (const c of conditions) if (!accuracy[r][c]) throw new RangeError(`no accuracy of ${r} under ${c}`);
  const floor = accuracyAxisFloor(recognizers.flatMap((r) => conditions.map((c) => accuracy[r][c].mean)));
  const left = 56, top = 40, plotH = 300, bar = 18, groupGap = 22;
  // Wide enough for a condition name such as "idgan-inpaint-woid" under its group.
  const groupW = Math.max(recognizers.length * bar + groupGap, 8 * Math.max(...conditions.map((c) => c.length)) + 8);
  const width = left + conditions.length * groupW + 20, height = top + plotH + 60;
  const y = (pct: number) => top + plotH - ((pct - floor) / (100 - floor)) * plotH;
  const parts = [`<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}"><rect width="100%" height="100%" fill="white"/>`];
  parts.push(`<text x="${left}" y="18" ${FONT} font-size="14">Verification accuracy (%), LFW, 10-fold</text>`);
  for (let t = floor; t <= 100; t += 5) {
    parts.push(`<line x1="${left}" x2="${width - 20}" y1="${y(t)}" y2="${y(t)}" stroke="#ddd"/>`);
    parts.push(`<text x="${left - 6}" y="${y(t) + 4}" ${FONT} font-size="11" text-anchor="end">${t}</text>`);
  }
  conditions.forEach((c, g) => {
    const x0 = left + g * groupW + (groupW - recognizers.length * bar) / 2;
    recognizers.forEach((r, k) => {
      const { mean, std } = accuracy[r][c];
      const x = x0 + k * bar, h = Math.max(0, y(floor) - y(100 * mean));
      parts.push(`<rect x="${x}" y="${y(floor) - h}" width="${bar - 2}" height="${h}" fill="${PALETTE[k % PALETTE.length]}"/>`);
      const hi = y(Math.min(100, 100 * (mean + std))), lo = y(Math.max(floor, 100 * (mean - std)));
      parts.push(`<line x1="${x + bar / 2 - 1}" x2="${x + bar / 2 - 1}" y1="${hi}" y2="${lo}" stroke="black"/>`);
    });
    parts.push(`<text x="${x0 + (recognizers.length * bar) / 2}" y="${top + plotH + 18}" ${FONT} font-size="12" text-anchor="middle">${escapeXml(c)}</text>`);
  });
  recognizers.forEach((r, k) => {
    const x = left + k * 150;
    parts.push(`<rect x="${x}" y="${height - 22}" width="12" height="12" fill="${PALETTE[k % PALETTE.length]}"/>`);
    parts.push(`<text x="${x + 16}" y="${height - 12}" ${FONT} font-size="12">${escapeXml(r)}</text>`);
  });
  parts.push('</svg>');
  return parts.join('');
}

export interface ScatterPanel {
  title: string;
  points: [number, number][];
  /** Index into the identity names, one per point. */
  labels: number[];
}

/** Fig. 7: one square scatter panel per condition, a colour per identity, a shared legend. */
export function tsneSvg(panels: readonly ScatterPanel[], identities: readonly string[], side = 260): string {
  if (panels.length === 0) throw new RangeError('no t-SNE panel to draw');
  for (const p of panels) if (p.points.length !== p.labels.length) throw new RangeError(`panel ${p.title}: ${p.points.length} points, ${p.labels.length} labels`);
  const gap = 16, head = 24, legendColumn = 200;
  const width = Math.max(panels.length * (side + gap) + gap, 2 * legendColumn + gap);
  // As many legend columns as fit the panels' width.
  const columns = Math.max(1, Math.floor((width - gap) / legendColumn));
  const height = head + side + gap + 20 * Math.ceil(identities.length / columns) + 10;
  const parts = [`<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}"><rect width="100%" height="100%" fill="white"/>`];
  panels.forEach((panel, k) => {
    const x0 = gap + k * (side + gap), y0 = head;
    const xs = panel.points.map((p) => p[0]), ys = panel.points.map((p) => p[1]);
    const [minX, maxX, minY, maxY] = [Math.min(...xs), Math.max(...xs), Math.min(...ys), Math.max(...ys)];
    const scale = (side - 20) / Math.max(maxX - minX, maxY - minY, 1e-9);
    parts.push(`<rect x="${x0}" y="${y0}" width="${side}" height="${side}" fill="none" stroke="#999"/>`);
    parts.push(`<text x="${x0 + side / 2}" y="17" ${FONT} font-size="13" text-anchor="middle">${escapeXml(panel.title)}</text>`);
    panel.points.forEach(([x, y], i) => {
      const cx = x0 + 10 + (x - minX) * scale, cy = y0 + 10 + (y - minY) * scale;
      parts.push(`<circle cx="${cx.toFixed(1)}" cy="${cy.toFixed(1)}" r="4" fill="${PALETTE[panel.labels[i] % PALETTE.length]}"/>`);
    });
  });
  identities.forEach((name, k) => {
    const x = gap + (k % columns) * legendColumn, y = head + side + gap + 20 * Math.floor(k / columns);
    parts.push(`<circle cx="${x + 6}" cy="${y + 6}" r="5" fill="${PALETTE[k % PALETTE.length]}"/>`);
    parts.push(`<text x="${x + 16}" y="${y + 10}" ${FONT} font-size="12">${escapeXml(name)}</text>`);
  });
  parts.push('</svg>');
  return parts.join('');
}

/**
 * Fig. 7's identities: those with the most images among the evaluated ones (at least `minImages`),
 * ties by name, up to `maxIdentities`, each with at most `perIdentity` images (their indices).
 */
export function pickIdentities(images: readonly LfwImage[], maxIdentities = 8, minImages = 3, perIdentity = 10): { name: string; indices: number[] }[] {
  const byName = new Map<string, number[]>();
  images.forEach((image, i) => byName.set(image.name, [...(byName.get(image.name) ?? []), i]));
  return [...byName.entries()]
    .filter(([, indices]) => indices.length >= minImages)
    .sort((a, b) => b[1].length - a[1].length || (a[0] < b[0] ? -1 : 1))
    .slice(0, maxIdentities)
    .map(([name, indices]) => ({ name, indices: indices.slice(0, perIdentity) }));
}

/** Writes fig4-montage.png, fig6-accuracy.png and fig7-tsne.png where there is something to draw; returns their names. */
export async function writeFigures(outDir: string, result: LfwEvalResult, figures: LfwEvalFigures): Promise<{ montage?: string; bars?: string; tsne?: string }> {
  const written: { montage?: string; bars?: string; tsne?: string } = {};
  const recognizers = Object.keys(result.accuracy);
  const conditions = recognizers.length > 0 ? Object.keys(result.accuracy[recognizers[0]]) : [];
  if (figures.montage.length > 0 && conditions.length > 0) {
    const rows = await Promise.all(figures.montage.map(async (row) => ({ image: row.image, crops: await Promise.all(row.crops.map(pngDataUri)) })));
    await writeFile(join(outDir, 'fig4-montage.png'), await svgToPng(montageSvg(rows, conditions)));
    written.montage = 'fig4-montage.png';
  }
  if (recognizers.length > 0) {
    await writeFile(join(outDir, 'fig6-accuracy.png'), await svgToPng(accuracyBarsSvg(result.accuracy)));
    written.bars = 'fig6-accuracy.png';
  }
  const identities = pickIdentities(figures.images);
  if (recognizers.length > 0 && identities.length >= 2) {
    // The first recognizer that is not the generator's training recognizer, when there is one.
    const recognizer = recognizers.find((r) => r !== 'faceapi') ?? recognizers[0];
    const indices = identities.flatMap((id) => id.indices);
    const labels = identities.flatMap((id, k) => id.indices.map(() => k));
    const panels = conditions.map((c) => ({
      title: `${c} (${recognizer})`,
      points: tsne(indices.map((i) => figures.embeddings[recognizer][c][i]), { perplexity: 10, seed: 0 }),
      labels,
    }));
    await writeFile(join(outDir, 'fig7-tsne.png'), await svgToPng(tsneSvg(panels, identities.map((id) => `${id.name} (${id.indices.length})`))));
    written.tsne = 'fig7-tsne.png';
  }
  return written;
}
