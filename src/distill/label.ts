/**
 * Label once, train many times (`portraitseg label`): a teacher (or an ensemble, with flip TTA)
 * runs once over labeled and unlabeled photos and its soft masks are written as a dataset our
 * loader reads: images/ (the photos, hard-linked or copied, never changed) + masks/ (8-bit grey
 * PNG, round(255 * P(person)), at each photo's size as displayed) + label.json (the manifest:
 * teachers, flip, sources, count).
 *
 * The teacher runs on each photo at the photo's resolution, like `eval`: our models and the
 * external adapter resize to their own input size inside, and bring P(person) back to the
 * photo's size (through the mask filter when the model has one). So a teacher too slow to run on
 * every augmented frame (a large external model, an ensemble with flip) still teaches, at the
 * cost of one pass; train on the folder with data.maskMode=soft so the soft targets stay soft
 * through every transform (src/augment keeps non-binary mattes soft) and the trivial-mask rule
 * drops only constant masks (src/data/sample.ts).
 *
 * The folder is written under a temp name beside --out and renamed when complete: it never
 * half-exists. --out follows the output rule (src/util/out-paths.ts): checked before any work,
 * never inside or onto an input (real paths, device + inode); an existing label folder is replaced
 * only with `overwrite`, anything else never.
 */
import * as fs from 'fs';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs';
import type { Config } from '../config/config';
import { ConfigError } from '../config/schema';
import { datasetInputs, openDataset } from '../data/dataset';
import { modelInputs } from '../models/folders';
import { ARTEFACTS, checkOutput, OutputPathError, writeOutputDir } from '../util/out-paths';
import { DataError } from '../data/errors';
import { decodeImageChecked } from '../data/sample';
import type { SampleRef } from '../data/types';
import { writePng } from '../util/image';
import type { ModelOptions } from '../eval/tta';
import { ExternalLoader, loadTeacherSet } from './student';
import { untaped } from './teacher';

export const LABEL_MANIFEST = 'label.json';

export interface LabelOptions {
  cfg: Config;
  /** The teachers, each with its own input options; more than one is an ensemble (mean P). */
  teachers: ModelOptions[];
  flip: boolean;
  /** Labeled photos (their masks are not used: the teacher's replace them). */
  data: string | null;
  unlabeled: string[];
  out: string;
  /** Replace an earlier label folder at `out` (never anything else). */
  overwrite?: boolean;
  /** Hard-link the photos (default) or copy them. */
  link?: boolean;
  log?: (l: string) => void;
  loadExternal?: ExternalLoader;
}

export interface LabelResult {
  out: string;
  count: number;
  skipped: string[];
  teacher: string;
}

function placeFile(src: string, dst: string, link: boolean): 'linked' | 'copied' {
  if (link) {
    try {
      fs.linkSync(src, dst);
      return 'linked';
    } catch {
      /* another file system or no permission: copy */
    }
  }
  fs.copyFileSync(src, dst);
  return 'copied';
}

/** Runs the teacher(s) once over the photos and writes the labeled dataset. */
export async function labelDataset(o: LabelOptions): Promise<LabelResult> {
  const log = o.log ?? (() => {});
  if (o.teachers.length === 0) throw new ConfigError('label: give --teacher RUN|MODEL (repeatable for an ensemble)');
  if (!o.data && o.unlabeled.length === 0) throw new ConfigError('label: give --data DIR and/or --unlabeled DIR (the photos to label)');
  const specs = [...(o.data ? [['--data', o.data] as const] : []), ...o.unlabeled.map((u) => ['--unlabeled', u] as const)];
  for (const [flag, spec] of specs) if (!fs.existsSync(spec)) throw new ConfigError(`${flag} ${spec}: not found`);
  const inputs = [...specs.flatMap(([flag, spec]) => datasetInputs(flag, spec)), ...o.teachers.flatMap((t) => modelInputs('--teacher', t.path))];
  let checked;
  try {
    checked = checkOutput({ flag: '--out', path: o.out, artefact: ARTEFACTS.labels, overwrite: o.overwrite, inputs });
  } catch (e) {
    throw e instanceof OutputPathError ? new ConfigError(e.message) : e;
  }
  const out = checked.target;
  const sources: { spec: string; flag: string; refs: SampleRef[] }[] = [];
  for (const [flag, spec] of specs) {
    const ds = await openDataset(spec, { strict: o.cfg.data.strict, labeled: flag === '--unlabeled' ? false : undefined, log }).catch((e) => {
      throw e instanceof DataError ? new ConfigError(`${flag} ${e.message}`) : e;
    });
    sources.push({ spec, flag, refs: ds.refs });
  }
  // distill.teachers carries each teacher's own options; the command's --input-size/... are cfg.external
  const cfg: Config = { ...o.cfg, distill: { ...o.cfg.distill, teacher: null, teachers: o.teachers.map((t) => ({ ...t })), teacherFlip: o.flip } };
  const teacher = await loadTeacherSet(null, cfg, { loadExternal: o.loadExternal });
  if (!teacher) throw new ConfigError('label: no teacher');
  const total = sources.reduce((n, s) => n + s.refs.length, 0);
  log(`label: ${teacher.describe}; ${total} photos from ${sources.map((s) => s.spec).join(', ')}`);
  const used = new Set<string>();
  const skipped: string[] = [];
  const items: { id: string; image: string; mask: string; source: string }[] = [];
  let how: 'linked' | 'copied' | null = null;
  let lastLog = 0;
  const t0 = Date.now();
  try {
    await writeOutputDir(
      out,
      async (tmp) => {
        fs.mkdirSync(path.join(tmp, 'images'), { recursive: true });
        fs.mkdirSync(path.join(tmp, 'masks'), { recursive: true });
        for (const src of sources) {
          for (const ref of src.refs) {
            let img;
            try {
              img = await decodeImageChecked(ref.imagePath);
            } catch (e) {
              if (!(e instanceof DataError)) throw e;
              skipped.push(e.message);
              log(`skip ${e.message}`);
              continue;
            }
            const { width: w, height: h } = img;
            const p = untaped(() =>
              tf.tidy(() => {
                const frame = tf.tensor4d(img.data, [1, h, w, 3], 'int32').toFloat().div(255) as tf.Tensor4D;
                return teacher.predict(frame, false).logits.sigmoid();
              }),
            );
            const prob = (await p.data()) as Float32Array;
            p.dispose();
            if (prob.length !== w * h) throw new Error(`${teacher.describe}: returned ${prob.length} pixels for a ${w}x${h} photo`);
            const mask = new Uint8Array(w * h);
            for (let i = 0; i < mask.length; i++) mask[i] = Math.round(255 * Math.min(1, Math.max(0, prob[i])));
            let stem = ref.id.replace(/[\\/]+/g, '_');
            const ext = path.extname(ref.imagePath);
            if (used.has(stem)) stem = `${path.basename(path.resolve(src.spec))}-${stem}`;
            for (let k = 2; used.has(stem); k++) stem = `${stem}-${k}`;
            used.add(stem);
            const imageName = `${stem}${ext}`;
            how = placeFile(ref.imagePath, path.join(tmp, 'images', imageName), o.link !== false);
            await writePng(path.join(tmp, 'masks', `${stem}.png`), mask, w, h, 1);
            items.push({ id: stem, image: path.resolve(ref.imagePath), mask: `masks/${stem}.png`, source: src.spec });
            const t = Date.now();
            if (t - lastLog > 2000 || items.length === total) {
              lastLog = t;
              const rate = items.length / Math.max(1e-3, (t - t0) / 1000);
              log(`label ${items.length + skipped.length}/${total} | ${rate.toFixed(1)} img/s | ETA ${Math.round((total - items.length - skipped.length) / Math.max(rate, 1e-9))}s`);
            }
          }
        }
        if (items.length === 0) throw new ConfigError('label: no photo could be read (see the skip lines)');
        const manifest = {
          kind: 'portraitseg-labels',
          teacher: teacher.describe,
          teachers: o.teachers.map((t) => ({ ...t, path: path.resolve(t.path) })),
          flip: o.flip,
          masks: '8-bit grey PNG, round(255 * P(person)) at each photo\'s size; train with data.maskMode=soft',
          sources: sources.map((s) => ({ flag: s.flag, path: path.resolve(s.spec), photos: s.refs.length })),
          images: how,
          count: items.length,
          skipped,
          date: new Date().toISOString(),
          items,
        };
        const mf = path.join(tmp, LABEL_MANIFEST);
        fs.writeFileSync(`${mf}.tmp`, JSON.stringify(manifest, null, 2) + '\n');
        fs.renameSync(`${mf}.tmp`, mf);
      },
      { replace: checked.replaces, flag: '--out' },
    );
  } catch (e) {
    throw e instanceof OutputPathError ? new ConfigError(e.message) : e;
  } finally {
    teacher.dispose();
  }
  return { out, count: items.length, skipped, teacher: teacher.describe };
}
