import { pipelineCan } from '../pipelines/permissions';
import { IMe } from '../projects/client';

const me = (name: string, projects: [string, 'creator' | 'dev' | 'ops'][], admin = false): IMe => ({
  name,
  admin,
  projects: projects.map(([p, role]) => ({ name: p, role }))
});

describe('pipeline permissions in lists', () => {
  const s = { project: 'team', creator: 'bob' };

  it('lets admins, project creators and the pipeline creator delete', () => {
    expect(pipelineCan(me('root', [], true), s).edit).toBe(true);
    expect(pipelineCan(me('amy', [['team', 'creator']]), s).edit).toBe(true);
    expect(pipelineCan(me('bob', [['team', 'dev']]), s).edit).toBe(true);
  });

  it('refuses other members, and a creator who left the project, with the reason', () => {
    const dev = pipelineCan(me('zoe', [['team', 'dev']]), s);
    expect(dev.edit).toBe(false);
    expect(dev.why).toContain('creators of project team');
    expect(pipelineCan(me('carl', [['team', 'ops']]), s).edit).toBe(false);
    expect(pipelineCan(me('bob', [['public', 'dev']]), s).edit).toBe(false);
  });

  it("prefers the server's permissions when the summary carries them", () => {
    expect(pipelineCan(me('zoe', [['team', 'dev']]), { ...s, permissions: { edit: true } }).edit).toBe(true);
    expect(pipelineCan(me('root', [], true), { ...s, permissions: { edit: false } }).edit).toBe(false);
  });
});
