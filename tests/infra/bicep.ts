import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { Language, Parser, type Node, type Tree } from 'web-tree-sitter';

/**
 * Reading Bicep with the tree-sitter grammar, so infra tests can check structure without the Bicep CLI or an
 * Azure account. Only the few shapes our templates use are modelled: declarations, objects, strings, calls.
 */

export const repoRoot = join(__dirname, '..', '..');
export const infraDir = join(repoRoot, 'infra');
const grammarWasm = join(repoRoot, 'node_modules', 'tree-sitter-bicep', 'tree-sitter-bicep.wasm');

export interface BicepFile {
  /** Path relative to the repository root, as used in messages and module references. */
  path: string;
  tree: Tree;
}

export async function createBicepParser(): Promise<Parser> {
  await Parser.init();
  const parser = new Parser();
  // Bytes rather than a path: loading by path makes web-tree-sitter use a dynamic import, which Jest's CommonJS
  // sandbox rejects. A Uint8Array of this realm, because Language.load checks `instanceof Uint8Array`.
  parser.setLanguage(await Language.load(new Uint8Array(readFileSync(grammarWasm))));
  return parser;
}

export function parseBicep(parser: Parser, path: string, text: string): BicepFile {
  const tree = parser.parse(text);
  if (!tree) throw new Error(`${path}: the parser returned no tree`);
  return { path, tree };
}

export function listBicepFiles(dir: string = infraDir): string[] {
  return readdirSync(dir, { recursive: true, encoding: 'utf8' })
    .filter((name) => name.endsWith('.bicep'))
    .map((name) => join(dir, name))
    .sort();
}

export function loadInfra(parser: Parser): BicepFile[] {
  return listBicepFiles().map((file) => parseBicep(parser, relative(repoRoot, file), readFileSync(file, 'utf8')));
}

/** `file:line:column` of a node (1-based), for messages. */
export function where(file: BicepFile, node: Node): string {
  return `${file.path}:${node.startPosition.row + 1}:${node.startPosition.column + 1}`;
}

/**
 * Every ERROR and MISSING node, as `file:line:column: ...` (1-based). Nested ERROR nodes are reported too:
 * error recovery often wraps a whole declaration in one ERROR, and the inner one points at the actual mistake.
 */
export function syntaxProblems(file: BicepFile): string[] {
  const problems: string[] = [];
  const visit = (node: Node): void => {
    if (node.isMissing) problems.push(`${where(file, node)}: missing ${node.type}`);
    else if (node.isError) problems.push(`${where(file, node)}: syntax error near "${node.text.slice(0, 40)}"`);
    if (!node.hasError) return;
    for (const child of node.children) if (child) visit(child);
  };
  visit(file.tree.rootNode);
  return problems;
}

function namedChildren(node: Node): Node[] {
  return node.namedChildren.filter((child): child is Node => child !== null && child.type !== 'comment');
}

/** The text of a string literal without interpolation; null for anything else. */
export function stringLiteral(node: Node | null): string | null {
  if (!node || node.type !== 'string') return null;
  const parts = namedChildren(node);
  if (parts.some((part) => part.type !== 'string_content' && part.type !== 'escape_sequence')) return null;
  return node.text.replace(/^'''|'''$/g, '').replace(/^'|'$/g, '');
}

function propertyKey(property: Node): string {
  const key = namedChildren(property)[0];
  return stringLiteral(key) ?? key.text;
}

function propertyValue(property: Node): Node {
  const children = namedChildren(property);
  return children[children.length - 1];
}

/** Keys of an object literal, in order. */
export function propertyKeys(object: Node | null): string[] {
  if (!object || object.type !== 'object') return [];
  return namedChildren(object)
    .filter((child) => child.type === 'object_property')
    .map(propertyKey);
}

/** The value at a dotted path of object keys (`properties.functionAppConfig.runtime`), or null. */
export function property(object: Node | null, path: string): Node | null {
  let current = object;
  for (const key of path.split('.')) {
    if (!current || current.type !== 'object') return null;
    const match = namedChildren(current).find(
      (child) => child.type === 'object_property' && propertyKey(child) === key,
    );
    current = match ? propertyValue(match) : null;
  }
  return current;
}

export interface ResourceDeclaration {
  file: BicepFile;
  node: Node;
  symbol: string;
  /** Full type as declared; nested child resources keep their short type (`containers`). */
  type: string;
  apiVersion: string;
  existing: boolean;
  /** Declared with `if (...)`. */
  conditional: boolean;
  body: Node;
}

function declarationBody(declaration: Node): { body: Node | null; conditional: boolean } {
  for (const child of namedChildren(declaration)) {
    if (child.type === 'object') return { body: child, conditional: false };
    if (child.type === 'if_statement') {
      return { body: namedChildren(child).find((c) => c.type === 'object') ?? null, conditional: true };
    }
    if (child.type === 'for_statement') return { body: child.childForFieldName('body'), conditional: false };
  }
  return { body: null, conditional: false };
}

/** Every resource declaration of a file, nested ones included. */
export function resources(file: BicepFile): ResourceDeclaration[] {
  return file.tree.rootNode.descendantsOfType('resource_declaration').flatMap((node) => {
    if (!node) return [];
    const [symbol, typeString] = namedChildren(node);
    const [type, apiVersion = ''] = (stringLiteral(typeString) ?? '').split('@');
    const { body, conditional } = declarationBody(node);
    if (!body) return [];
    const existing = node.children.some((child) => child?.type === 'existing');
    return [{ file, node, symbol: symbol.text, type, apiVersion, existing, conditional, body }];
  });
}

export interface ModuleDeclaration {
  file: BicepFile;
  node: Node;
  symbol: string;
  /** Module path as written, relative to the declaring file. */
  source: string;
  body: Node;
}

export function modules(file: BicepFile): ModuleDeclaration[] {
  return namedChildren(file.tree.rootNode)
    .filter((node) => node.type === 'module_declaration')
    .flatMap((node) => {
      const [symbol, source] = namedChildren(node);
      const { body } = declarationBody(node);
      return body ? [{ file, node, symbol: symbol.text, source: stringLiteral(source) ?? '', body }] : [];
    });
}

export interface ParameterDeclaration {
  name: string;
  secure: boolean;
  hasDefault: boolean;
  node: Node;
}

/** Parameters with their decorators (tree-sitter-bicep puts decorators in a sibling node just before). */
export function parameters(file: BicepFile): ParameterDeclaration[] {
  const statements = namedChildren(file.tree.rootNode);
  return statements.flatMap((node, index) => {
    if (node.type !== 'parameter_declaration') return [];
    const decorators = statements[index - 1]?.type === 'decorators' ? statements[index - 1] : null;
    const secure = (decorators?.descendantsOfType('call_expression') ?? []).some(
      (call) => call?.childForFieldName('function')?.text === 'secure',
    );
    const [name, , defaultValue] = namedChildren(node);
    return [{ name: name.text, secure, hasDefault: defaultValue !== undefined, node }];
  });
}

export function outputs(file: BicepFile): Array<{ name: string; value: Node }> {
  return namedChildren(file.tree.rootNode)
    .filter((node) => node.type === 'output_declaration')
    .map((node) => {
      const children = namedChildren(node);
      return { name: children[0].text, value: children[children.length - 1] };
    });
}

/** Variable declarations by name, with the comment lines written just above each. */
export function variables(file: BicepFile): Map<string, { value: Node; comment: string }> {
  const statements = file.tree.rootNode.namedChildren.filter((node): node is Node => node !== null);
  const result = new Map<string, { value: Node; comment: string }>();
  statements.forEach((node, index) => {
    if (node.type !== 'variable_declaration') return;
    const [name, value] = namedChildren(node);
    const comments: string[] = [];
    for (let i = index - 1; i >= 0 && statements[i].type === 'comment'; i--) comments.unshift(statements[i].text);
    result.set(name.text, { value, comment: comments.join('\n') });
  });
  return result;
}

/** True for the key of an object property (`name` in `name: value`), which names no declaration. */
export function isPropertyKey(identifier: Node): boolean {
  const parent = identifier.parent;
  return parent?.type === 'object_property' && parent.namedChildren[0]?.startIndex === identifier.startIndex;
}

/** Names referenced by an expression: identifiers (roots of member accesses included), not property keys. */
export function referencedNames(node: Node): string[] {
  const names = node.descendantsOfType('identifier').filter((n): n is Node => n !== null);
  if (node.type === 'identifier') names.push(node);
  return names.filter((n) => !isPropertyKey(n)).map((n) => n.text);
}

/** A call expression's function name and arguments; null when the node is not a call. */
export function call(node: Node | null): { name: string; args: Node[] } | null {
  if (!node || node.type !== 'call_expression') return null;
  const args = node.childForFieldName('arguments');
  return { name: node.childForFieldName('function')?.text ?? '', args: args ? namedChildren(args) : [] };
}
