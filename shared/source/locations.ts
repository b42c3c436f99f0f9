import { SourceError } from './errors';

/** The folder part of a blob name (`a/b/model.json` -> `a/b`), `''` at the container root. */
export function folderOf(blobName: string): string {
  const slash = blobName.lastIndexOf('/');
  return slash === -1 ? '' : blobName.slice(0, slash);
}

/** Joins path segments, collapsing `.` and refusing `..` that would climb above the container root. */
export function joinBlobPath(base: string, relative: string, where: string): string {
  const parts: string[] = [];
  for (const segment of `${base}/${relative}`.split('/')) {
    if (segment === '' || segment === '.') continue;
    if (segment === '..') {
      if (parts.length === 0) throw new SourceError(where, `location "${relative}" escapes the container`);
      parts.pop();
    } else parts.push(segment);
  }
  return parts.join('/');
}

/**
 * Resolves a partition location to a blob name in `containerName`. Absolute URLs may use the `.blob.` or `.dfs.`
 * host, `:443` and a `?snapshot=` query; their path is URL-decoded and must start with the configured container (the
 * account host is not compared: tests serve the container from Azurite while metadata names the real account).
 * Relative locations resolve against `baseFolder` (the metadata's folder). Anything else, or a path that leaves the
 * container, is a SourceError naming `metadataBlob`: such a location is never fetched.
 */
export function resolveLocation(
  location: string,
  baseFolder: string,
  containerName: string,
  metadataBlob: string,
): string {
  const trimmed = location.trim();
  if (/^https?:\/\//i.test(trimmed)) {
    let url: URL;
    try {
      url = new URL(trimmed);
    } catch {
      throw new SourceError(metadataBlob, `partition location is not a valid URL: ${trimmed}`);
    }
    const segments = url.pathname.split('/').filter((s) => s !== '');
    let decoded: string[];
    try {
      decoded = segments.map((s) => decodeURIComponent(s));
    } catch {
      throw new SourceError(metadataBlob, `partition location has an invalid URL encoding: ${url.pathname}`);
    }
    if (decoded.length < 2 || decoded[0] !== containerName) {
      throw new SourceError(
        metadataBlob,
        `partition location ${url.pathname} is outside the configured container "${containerName}"; not read`,
      );
    }
    return joinBlobPath('', decoded.slice(1).join('/'), metadataBlob);
  }
  if (/^[a-z][a-z0-9+.-]*:/i.test(trimmed)) {
    throw new SourceError(
      metadataBlob,
      `partition location "${trimmed}" uses an unsupported scheme or storage adapter`,
    );
  }
  const relativePath = trimmed.startsWith('/') ? trimmed.slice(1) : trimmed;
  let decodedPath: string;
  try {
    decodedPath = relativePath.includes('%') ? decodeURIComponent(relativePath) : relativePath;
  } catch {
    throw new SourceError(metadataBlob, `partition location "${trimmed}" has an invalid URL encoding`);
  }
  return joinBlobPath(trimmed.startsWith('/') ? '' : baseFolder, decodedPath, metadataBlob);
}
