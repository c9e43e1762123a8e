/**
 * The pure parts of the image picker: what to search for while someone types
 * a reference, the suggestions a page of `GET /images` gives (one per tag,
 * with its short digest), and the reference pinned by digest.
 *
 * A reference reads `[registry/]repository[:tag][@digest]`; the registry is
 * the first component when it has a '.' or ':' or is `localhost` (Docker's
 * rule), so `127.0.0.1:5000/team/app:v1` has the port's ':' in its host and
 * the tag's ':' in its last component.
 */
import { components } from '../generated/api';
import { shortDigest } from './model';

export type IImage = components['schemas']['Image'];
export type IImageTag = components['schemas']['ImageTag'];

export interface IImageSuggestion {
  /** `<project>/<image>:<tag>`, what the list shows */
  label: string;
  /** `<registry>/<project>/<image>:<tag>`, what choosing it fills in */
  reference: string;
  /** `<registry>/<project>/<image>@sha256:...`, or null without a digest */
  pinned: string | null;
  digest: string | null;
  /** `sha256:0123456789ab`, '—' without a digest */
  short: string;
  /** the tag was made by a build here (its number) */
  build: number | null;
}

export interface IParsedReference {
  registry: string;
  /** the repository path without the registry */
  repository: string;
  tag: string;
  digest: string;
}

function isRegistryHost(component: string): boolean {
  return component.includes('.') || component.includes(':') || component === 'localhost';
}

/** Split a reference into registry, repository, tag and digest ('' where absent). */
export function parseReference(text: string): IParsedReference {
  let rest = text.trim();
  let digest = '';
  const at = rest.indexOf('@');
  if (at >= 0) {
    digest = rest.slice(at + 1);
    rest = rest.slice(0, at);
  }
  const parts = rest.split('/');
  const registry = parts.length > 1 && isRegistryHost(parts[0]) ? parts.shift()! : '';
  let last = parts.pop() ?? '';
  let tag = '';
  const colon = last.indexOf(':');
  if (colon >= 0) {
    tag = last.slice(colon + 1);
    last = last.slice(0, colon);
  }
  parts.push(last);
  return { registry, repository: parts.join('/'), tag, digest };
}

/**
 * What to send as `q` for the typed text: the image name being typed (the
 * last component of the repository, without tag or digest). Typing a
 * registry or a project alone (`127.0.0.1:5000/team/`) searches nothing, so
 * every image of the project is offered.
 */
export function searchTerm(text: string): string {
  const { repository } = parseReference(text);
  const parts = repository.split('/');
  return (parts[parts.length - 1] ?? '').toLowerCase();
}

/** `reference` pinned to `digest`: its tag replaced by `@digest` (a digest is what runs, whatever the tag becomes). */
export function pinnedReference(reference: string, digest: string | null | undefined): string | null {
  if (!digest) {
    return null;
  }
  const { registry, repository } = parseReference(reference);
  return `${registry ? registry + '/' : ''}${repository}@${digest}`;
}

/** One suggestion per tag of each image, in the order the API gives (repository, then tag). */
export function suggestionsFrom(images: IImage[]): IImageSuggestion[] {
  const out: IImageSuggestion[] = [];
  for (const image of images) {
    for (const tag of image.tags ?? []) {
      const reference = tag.reference ?? `${image.repository}:${tag.tag}`;
      const digest = tag.digest ?? null;
      out.push({
        label: `${image.repository}:${tag.tag}`,
        reference,
        pinned: pinnedReference(reference, digest),
        digest,
        short: shortDigest(digest),
        build: tag.build ?? null
      });
    }
  }
  return out;
}

/**
 * The suggestions that fit what is typed once the image name is complete: a
 * typed tag (`app:v`) keeps the tags starting with it, a typed digest the
 * tags of that digest. The server already matched the image name.
 */
export function narrowSuggestions(suggestions: IImageSuggestion[], text: string): IImageSuggestion[] {
  const typed = parseReference(text);
  return suggestions.filter(s => {
    const own = parseReference(s.reference);
    if (typed.digest) {
      return !!s.digest && s.digest.startsWith(typed.digest);
    }
    if (typed.tag) {
      return own.repository.endsWith(typed.repository) && own.tag.startsWith(typed.tag);
    }
    return true;
  });
}

/** Whether the value names an image by digest (what "pin" makes). */
export function isPinned(value: string): boolean {
  return parseReference(value).digest !== '';
}

/** The index the arrow keys move to in a list of `count` options (-1: none). */
export function moveActive(active: number, count: number, key: 'ArrowDown' | 'ArrowUp'): number {
  if (count <= 0) {
    return -1;
  }
  if (key === 'ArrowDown') {
    return active < 0 || active >= count - 1 ? 0 : active + 1;
  }
  return active <= 0 ? count - 1 : active - 1;
}
