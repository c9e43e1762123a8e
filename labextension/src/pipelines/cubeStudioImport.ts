/**
 * Importing Cube Studio pipeline files from the Lab: which format a chosen
 * file is, and the per-entry report the import answers with, as lines the
 * import dialog shows.
 */

/** One entry of a Cube Studio import answer (templates or pipelines). */
export interface IImportEntry {
  entry: string;
  status: 'imported' | 'renamed' | 'refused';
  name: string;
  demo?: boolean;
  errors: { field: string; message: string; accepted?: string }[];
  warnings: string[];
  ignored: string[];
  diagnostics?: { severity: string; message: string; task?: string | null }[];
}

export const CUBELAB_EXPORT_FORMAT = 'cubelab.pipeline/v1';

function isCubeStudioPipeline(value: unknown): boolean {
  return (
    typeof value === 'object' &&
    value !== null &&
    'pipeline' in value &&
    typeof (value as { pipeline: unknown }).pipeline === 'object'
  );
}

function isCubeStudioTemplate(value: unknown): boolean {
  return typeof value === 'object' && value !== null && 'job_template_name' in value;
}

/**
 * The import format of a parsed file: 'cubelab' (CubeLab's export),
 * 'cube-studio' (one `{pipeline, tasks}` or name -> such objects, as Cube
 * Studio's init-pipeline.json), 'cube-studio-templates' (Cube Studio's job
 * templates, as its init-job-template.json), or null when it is none of them.
 */
export function pipelineFileFormat(doc: unknown): 'cubelab' | 'cube-studio' | 'cube-studio-templates' | null {
  if (typeof doc !== 'object' || doc === null) {
    return null;
  }
  if ((doc as { format?: unknown }).format === CUBELAB_EXPORT_FORMAT) {
    return 'cubelab';
  }
  if (isCubeStudioPipeline(doc)) {
    return 'cube-studio';
  }
  if (isCubeStudioTemplate(doc)) {
    return 'cube-studio-templates';
  }
  const values = Array.isArray(doc) ? doc : Object.values(doc);
  if (values.length > 0 && values.every(isCubeStudioPipeline)) {
    return 'cube-studio';
  }
  return values.length > 0 && values.every(isCubeStudioTemplate) ? 'cube-studio-templates' : null;
}

/** One summary line per entry, then its reasons: what the import dialog lists. */
export function reportLines(entries: IImportEntry[]): string[] {
  const lines: string[] = [];
  for (const e of entries) {
    const shown = e.name && e.name !== e.entry ? `${e.entry} → ${e.name}` : e.entry;
    lines.push(`${e.status === 'refused' ? '✗' : '✓'} ${shown}: ${e.status}${e.demo ? ' (demo)' : ''}`);
    for (const err of e.errors) {
      lines.push(`    ${err.field}: ${err.message}${err.accepted ? ` (accepted: ${err.accepted})` : ''}`);
    }
    for (const w of e.warnings) {
      lines.push(`    warning: ${w}`);
    }
    for (const i of e.ignored) {
      lines.push(`    ignored: ${i}`);
    }
    for (const d of e.diagnostics ?? []) {
      if (d.severity === 'error') {
        lines.push(`    to fix before a run: ${d.task ? `${d.task}: ` : ''}${d.message}`);
      }
    }
  }
  return lines;
}

/** 'Imported 3 of 4 pipelines' for the dialog's title. */
export function reportTitle(entries: IImportEntry[], noun = 'pipeline'): string {
  const done = entries.filter(e => e.status !== 'refused').length;
  return `Imported ${done} of ${entries.length} ${noun}${entries.length === 1 ? '' : 's'}`;
}
