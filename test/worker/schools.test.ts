import { beforeEach, describe, expect, it } from 'vitest';
import type { SchoolsResponse } from '../../protocol/api.ts';
import { api, seedDemoCampus } from './helpers/seed.ts';

describe('GET /api/v1/schools', () => {
  beforeEach(seedDemoCampus);

  it('lists every school ordered by initial letter', async () => {
    const res = await api('/api/v1/schools');
    expect(res.status).toBe(200);
    const body = (await res.json()) as SchoolsResponse;
    expect(body.schools.map((s) => s.initial)).toEqual(['B', 'H', 'W']);
  });

  it('searches by part of the name and filters by city and initial', async () => {
    const byName = (await (await api(`/api/v1/schools?q=${encodeURIComponent('海洋')}`)).json()) as SchoolsResponse;
    expect(byName.schools.map((s) => s.id)).toEqual(['whovc']);
    const byInitial = (await (await api('/api/v1/schools?initial=h')).json()) as SchoolsResponse;
    expect(byInitial.schools.map((s) => s.id)).toEqual(['hrbust-rongcheng']);
    const otherCity = (await (await api(`/api/v1/schools?city=${encodeURIComponent('北京')}`)).json()) as SchoolsResponse;
    expect(otherCity.schools).toEqual([]);
  });

  it('treats LIKE wildcards in the search as plain text', async () => {
    const res = (await (await api('/api/v1/schools?q=%25')).json()) as SchoolsResponse;
    expect(res.schools).toEqual([]);
  });

  it('refuses a malformed filter with a 400 and a code', async () => {
    const res = await api('/api/v1/schools?initial=AB');
    expect(res.status).toBe(400);
    expect(await res.json()).toMatchObject({ error: { code: 'invalid_query' } });
  });

  it('answers an unknown route with a 404 error body', async () => {
    const res = await api('/api/v1/nothing-here');
    expect(res.status).toBe(404);
    expect(await res.json()).toMatchObject({ error: { code: 'not_found' } });
  });
});
