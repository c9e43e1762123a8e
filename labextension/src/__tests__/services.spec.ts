import { CubeLabClient, Transport } from '../request';
import { IService, ServicesClient } from '../services/client';
import {
  diagnosticsByField,
  draftFromModelFile,
  draftFromService,
  draftToBody,
  inferenceName,
  isModelFile,
  modelNameFrom,
  newDraft,
  servingTypeFor
} from '../services/draft';
import { receivedShares, traffic, trafficText } from '../services/split';
import {
  answerText,
  buildTryRequest,
  checkInferenceRequest,
  formatLatency,
  inferencePath,
  sampleInferenceRequest,
  tryTargets
} from '../services/tryit';

const service = (patch: Partial<IService> = {}): IService =>
  ({
    id: 7,
    project: 'vision',
    name: 'web',
    owner: 'alice',
    kind: 'internal',
    image: '',
    command: ['sh', '-c', 'python3 -m http.server $PORT'],
    args: [],
    workdir: '',
    env: 'A=1',
    ports: '8080',
    volume_mount: '',
    node_selector: '',
    cpu: '1',
    memory: '1G',
    gpu: '0',
    health: '8080:/',
    min_replicas: 1,
    max_replicas: 3,
    hpa: 'cpu:50%',
    host: 'web.localhost',
    canary: '',
    mirror: '',
    expose: 'project',
    serving_type: '',
    model_name: '',
    model_version: '',
    model_path: '',
    environment: 'prod',
    status: 'running',
    message: '',
    desired_replicas: 1,
    generation: 1,
    custom_host: '',
    replicas: [],
    permissions: { edit: true },
    deployed_at: null,
    created_at: null,
    updated_at: null,
    ...patch
  }) as IService;

describe('services client', () => {
  const recorder = (answers: Record<string, unknown>) => {
    const calls: [string, string, unknown][] = [];
    const transport: Transport = async (method, path, body) => {
      calls.push([method, path, body]);
      const answer = answers[`${method} ${path.split('?')[0]}`];
      return { status: 200, text: async () => JSON.stringify(answer ?? {}) };
    };
    return { calls, client: new ServicesClient(new CubeLabClient(transport)) };
  };

  it('lists a page with the filters given and sends edits and validation where the API has them', async () => {
    const { calls, client } = recorder({
      'GET services': { services: [service()], next_cursor: 'c2' },
      'POST services/validate': { errors: [{ field: 'cpu', message: 'cpu: bad', accepted: '2' }] }
    });
    const page = await client.listPage({ project: 'vision', status: '', q: 'we' }, null, 20);
    expect(page.items[0].name).toBe('web');
    expect(page.next).toBe('c2');
    expect(calls[0][1]).toBe('services?project=vision&q=we&limit=20');
    const diags = await client.validate({ name: 'web' }, 7);
    expect(diags).toEqual([{ field: 'cpu', message: 'cpu: bad', accepted: '2' }]);
    expect(calls[1]).toEqual(['POST', 'services/validate?id=7', { name: 'web' }]);
    await client.update(7, { cpu: '2' });
    await client.deploy(7);
    await client.eventsPage(7, 'x', 10);
    expect(calls.slice(2).map(c => `${c[0]} ${c[1]}`)).toEqual([
      'PATCH services/7',
      'POST services/7/deploy',
      'GET services/7/events?limit=10&cursor=x'
    ]);
    expect(client.logPath(7, 2, true)).toBe('services/7/replicas/2/logs?follow=1');
  });
});

describe('traffic split', () => {
  it('gives the service the rest of the shares it splits away, and the mirror apart', () => {
    const t = traffic({ name: 'web', canary: 'b:30%,c:20%', mirror: 'shadow:10%' });
    expect(t.shares).toEqual([
      { service: 'web', percent: 50, self: true },
      { service: 'b', percent: 30, self: false },
      { service: 'c', percent: 20, self: false }
    ]);
    expect(t.mirror).toEqual({ service: 'shadow', percent: 10 });
    expect(trafficText(t)).toBe('web 50% · b 30% · c 20%; mirror shadow 10%');
  });

  it('shows nothing for a service keeping all its traffic, and skips text it cannot read', () => {
    expect(trafficText(traffic({ name: 'web', canary: '', mirror: '' }))).toBe('');
    expect(traffic({ name: 'web', canary: 'b:30%,???' }).shares.map(s => s.percent)).toEqual([70, 30]);
  });

  it('says which hosts send a share to each service', () => {
    expect(receivedShares([{ name: 'a', canary: 'b:20%' }, { name: 'c', canary: 'b:5%' }, { name: 'b' }])).toEqual({
      b: [
        { from: 'a', percent: 20 },
        { from: 'c', percent: 5 }
      ]
    });
  });
});

describe('service form draft', () => {
  it('sends only the fields of an internal service, counts as numbers, a JSON list as a list', () => {
    const d = {
      ...newDraft('vision'),
      name: 'web',
      command: '["python3", "app.py"]',
      min_replicas: ' 2 ',
      max_replicas: 'x'
    };
    const body = draftToBody(d) as Record<string, unknown>;
    expect(body.kind).toBe('internal');
    expect(body.command).toEqual(['python3', 'app.py']);
    expect(body.min_replicas).toBe(2);
    expect(body.max_replicas).toBe('x');
    expect('serving_type' in body).toBe(false);
    expect(draftToBody({ ...d, command: 'python3 app.py' }).command).toBe('python3 app.py');
    expect(draftToBody({ ...d, command: '[not json' }).command).toBe('[not json');
  });

  it('prefills an inference service from a model file and leaves its name to the platform', () => {
    expect(isModelFile('models/iris.joblib')).toBe(true);
    expect(isModelFile('notes.txt')).toBe(false);
    expect(['a.pkl', 'a.JSON', 'a.ubj', 'a.onnx'].map(servingTypeFor)).toEqual([
      'sklearn',
      'xgboost',
      'xgboost',
      'onnx'
    ]);
    expect(modelNameFrom('dir/Iris_Model.v2.joblib')).toBe('iris-model-v2');
    const d = draftFromModelFile('models/iris.joblib', 'vision');
    expect(d).toMatchObject({
      kind: 'inference',
      serving_type: 'sklearn',
      model_name: 'iris',
      model_path: 'models/iris.joblib'
    });
    const body = draftToBody(d) as Record<string, unknown>;
    expect('name' in body).toBe(false);
    expect(body.model_version).toBe('v1');
    expect(inferenceName({ serving_type: 'sklearn', model_name: 'iris', model_version: 'v2024.1' })).toBe(
      'sklearn-iris-20241'
    );
  });

  it('reads a stored service back into the form: a command line as typed, the custom host only', () => {
    const d = draftFromService(service({ host: 'web.localhost', custom_host: '' }));
    expect(d.command).toBe('python3 -m http.server $PORT');
    expect(d.host).toBe('');
    expect(d.min_replicas).toBe('1');
    expect(draftFromService(service({ command: ['python3', 'a b.py'] })).command).toBe('["python3","a b.py"]');
  });

  it('places diagnostics at their fields without repeating the field name, others in general', () => {
    const placed = diagnosticsByField(
      [
        { field: 'cpu', message: "cpu: 'x' is not a CPU amount (accepted: 2, 0.5)", accepted: '2, 0.5' },
        { field: 'model_path', message: 'model_path: is missing', accepted: null },
        { field: 'service', message: 'service: must be an object', accepted: null }
      ],
      'internal'
    );
    expect(placed.fields).toEqual({ cpu: "'x' is not a CPU amount (accepted: 2, 0.5)" });
    expect(placed.general).toEqual(['model_path: is missing', 'service: must be an object']);
  });
});

describe('try it', () => {
  it('prefers the member path, then the gateway URL, then healthy replicas on this machine', () => {
    const replicas = [
      {
        index: 0,
        generation: 1,
        status: 'healthy',
        pid: 1,
        port: 4100,
        started_at: null,
        restarts: 0,
        last_exit: null,
        message: ''
      },
      {
        index: 1,
        generation: 1,
        status: 'starting',
        pid: 2,
        port: 4101,
        started_at: null,
        restarts: 0,
        last_exit: null,
        message: ''
      }
    ] as IService['replicas'];
    expect(tryTargets(service() as any, replicas).map(t => t.base)).toEqual(['cubelab:', 'http://127.0.0.1:4100']);
    const withPaths = {
      ...service(),
      proxy_url: '/services/cubelab/api/v1/services/7/proxy/',
      url: 'http://web.localhost:8090'
    };
    expect(tryTargets(withPaths as any, replicas).map(t => t.base)).toEqual([
      'cubelab:',
      '/services/cubelab/api/v1/services/7/proxy',
      'http://web.localhost:8090',
      'http://127.0.0.1:4100'
    ]);
    expect(tryTargets(service() as any, [])).toEqual([]);
  });

  it('checks an inference request field by field', () => {
    expect(checkInferenceRequest(sampleInferenceRequest()).problems).toEqual([]);
    expect(checkInferenceRequest('{').problems[0].field).toBe('body');
    expect(checkInferenceRequest('{"inputs": []}').problems[0].field).toBe('inputs');
    const bad = checkInferenceRequest(
      JSON.stringify({ inputs: [{ name: '', shape: [2, 2], datatype: 'FLOAT', data: [[1, 2], [3]] }] })
    ).problems;
    expect(bad.map(p => p.field)).toEqual(['inputs[0].name', 'inputs[0].datatype', 'inputs[0].data']);
    expect(bad[2].message).toBe('holds 3 values; shape [2, 2] needs 4');
    expect(
      checkInferenceRequest(JSON.stringify({ inputs: [{ name: 'x', shape: [1.5], datatype: 'FP32', data: [] }] }))
        .problems[0].field
    ).toBe('inputs[0].shape');
  });

  it('builds the request to send, or says why not', () => {
    const target = { base: 'http://127.0.0.1:4100', via: 'replica 0' };
    expect(buildTryRequest(target, { mode: 'json', method: 'get', path: 'health', body: '{"ignored": 1}' })).toEqual({
      request: { method: 'GET', url: 'http://127.0.0.1:4100/health', headers: {} },
      problems: []
    });
    expect(buildTryRequest(target, { mode: 'json', method: 'POST', path: '/p', body: '{x' }).problems[0].field).toBe(
      'body'
    );
    expect(
      buildTryRequest(target, { mode: 'json', method: 'GET', path: 'http://elsewhere/', body: '' }).problems[0].field
    ).toBe('path');
    const oip = buildTryRequest(target, {
      mode: 'inference',
      method: 'GET',
      path: inferencePath(service({ kind: 'inference', model_name: 'iris' })),
      body: sampleInferenceRequest()
    });
    expect(oip.request).toMatchObject({ method: 'POST', url: 'http://127.0.0.1:4100/v2/models/iris/infer' });
    expect(oip.request?.headers['Content-Type']).toBe('application/json');
  });

  it('reads latency and answers as people do', () => {
    expect(formatLatency(12.4)).toBe('12 ms');
    expect(formatLatency(1350)).toBe('1.35 s');
    expect(answerText('{"a":1}')).toBe('{\n  "a": 1\n}');
    expect(answerText('plain')).toBe('plain');
  });
});
