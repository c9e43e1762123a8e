/** The template palette: categories in their `category_index` order (the server searches). */
import { ITemplate } from './types';

export interface IPaletteGroup {
  category: string;
  index: number;
  templates: ITemplate[];
}

export function paletteGroups(templates: ITemplate[]): IPaletteGroup[] {
  const groups = new Map<string, IPaletteGroup>();
  for (const t of templates) {
    let g = groups.get(t.category);
    if (!g) {
      g = { category: t.category, index: t.category_index ?? 0, templates: [] };
      groups.set(t.category, g);
    }
    g.index = Math.min(g.index, t.category_index ?? 0);
    g.templates.push(t);
  }
  const list = [...groups.values()];
  list.sort((a, b) => a.index - b.index || a.category.localeCompare(b.category));
  for (const g of list) {
    g.templates.sort((a, b) => a.name.localeCompare(b.name) || a.version.localeCompare(b.version));
  }
  return list;
}

/** Key that identifies a template in drag data. */
export const templateKey = (t: { name: string; version: string }): string => `${t.name}@${t.version}`;

export function findTemplate(templates: ITemplate[], name: string, version?: string | null): ITemplate | undefined {
  return (
    templates.find(t => t.name === name && t.version === (version || 'Release')) ??
    (version ? undefined : templates.find(t => t.name === name))
  );
}
