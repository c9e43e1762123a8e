import { IImportEntry, pipelineFileFormat, reportLines, reportTitle } from '../pipelines/cubeStudioImport';

// shaped as Cube Studio's init-pipeline.json and CubeLab's export
const CUBE_STUDIO_FILE = {
  ml: { pipeline: { name: 'ml', dag_json: {} }, tasks: [] },
  yolov8: { pipeline: { name: 'yolov8' }, tasks: [] }
};

describe('pipelineFileFormat', () => {
  it('tells CubeLab exports from Cube Studio files', () => {
    expect(pipelineFileFormat({ format: 'cubelab.pipeline/v1', pipeline: {} })).toBe('cubelab');
    expect(pipelineFileFormat(CUBE_STUDIO_FILE)).toBe('cube-studio');
    expect(pipelineFileFormat(CUBE_STUDIO_FILE.ml)).toBe('cube-studio');
    expect(pipelineFileFormat([CUBE_STUDIO_FILE.ml])).toBe('cube-studio');
  });

  it('tells Cube Studio job template files', () => {
    const templates = { 自定义镜像: { job_template_name: '自定义镜像', image_name: 'ubuntu:20.04' } };
    expect(pipelineFileFormat(templates)).toBe('cube-studio-templates');
    expect(pipelineFileFormat(templates['自定义镜像'])).toBe('cube-studio-templates');
    expect(reportTitle([], 'template')).toBe('Imported 0 of 0 templates');
  });

  it('names neither for anything else', () => {
    expect(pipelineFileFormat({ name: 'x', tasks: [] })).toBeNull();
    expect(pipelineFileFormat({})).toBeNull();
    expect(pipelineFileFormat('text')).toBeNull();
    expect(pipelineFileFormat({ ml: CUBE_STUDIO_FILE.ml, other: 3 })).toBeNull();
  });
});

describe('reportLines', () => {
  const entries: IImportEntry[] = [
    {
      entry: 'ml',
      status: 'imported',
      name: 'ml',
      demo: true,
      errors: [],
      warnings: ["tasks.data-process.job_templete: '自定义镜像' is template 'customize'"],
      ignored: ['pipeline.alert_user: CubeLab sends no alerts'],
      diagnostics: [{ severity: 'error', message: 'volume_mount: hostpath is for admins', task: 'a' }]
    },
    {
      entry: 'broken',
      status: 'refused',
      name: 'broken',
      errors: [
        { field: 'broken.tasks.a.job_templete', message: "template 'x' is not installed here", accepted: 'a template' }
      ],
      warnings: [],
      ignored: []
    }
  ];

  it('lists every entry with its status and reasons', () => {
    expect(reportLines(entries)).toEqual([
      '✓ ml: imported (demo)',
      "    warning: tasks.data-process.job_templete: '自定义镜像' is template 'customize'",
      '    ignored: pipeline.alert_user: CubeLab sends no alerts',
      '    to fix before a run: a: volume_mount: hostpath is for admins',
      '✗ broken: refused',
      "    broken.tasks.a.job_templete: template 'x' is not installed here (accepted: a template)"
    ]);
    expect(reportTitle(entries)).toBe('Imported 1 of 2 pipelines');
  });
});
