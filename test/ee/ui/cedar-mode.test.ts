import { expect } from 'chai';
import { StringStream } from '@codemirror/language';
import { cedarMode } from '../../../src/plugins/ee/admin-ui/app/cedar-mode.js';

/** The editor's Cedar highlighter, token by token: [text, style] per line of `source`. */
function tokens(source: string): [string, string | null][][] {
  const state = cedarMode.startState!(2);
  return source.split('\n').map((line) => {
    const stream = new StringStream(line, 2, 2);
    const found: [string, string | null][] = [];
    while (!stream.eol()) {
      const style = cedarMode.token(stream, state);
      found.push([stream.current(), style]);
      stream.start = stream.pos;
    }
    return found.filter(([, style]) => style !== null);
  });
}

describe('EE admin UI: the Cedar highlighter of the policy editor', () => {
  it('tells keywords, scope variables, entity types, strings, numbers, operators, calls and comments apart', () => {
    const [first, second] = tokens('forbid (principal, action == Action::"tickets.close", resource)\nwhen { context.arguments.amount.greaterThan(decimal("5000.0")) && principal.getTag("board") != "x" };');
    expect(first).to.deep.equal([
      ['forbid', 'keyword'],
      ['(', 'punctuation'],
      ['principal', 'variableName.special'],
      [',', 'punctuation'],
      ['action', 'variableName.special'],
      ['==', 'operator'],
      ['Action', 'typeName'],
      ['::', 'punctuation'],
      ['"tickets.close"', 'string'],
      [',', 'punctuation'],
      ['resource', 'variableName.special'],
      [')', 'punctuation'],
    ]);
    expect(second!.filter(([, style]) => style === 'variableName.function').map(([text]) => text)).to.deep.equal(['greaterThan', 'decimal', 'getTag']);
    expect(second!.filter(([, style]) => style === 'propertyName').map(([text]) => text)).to.deep.equal(['arguments', 'amount']);
    expect(second!.filter(([, style]) => style === 'operator').map(([text]) => text)).to.deep.equal(['&&', '!=']);
  });

  it('keeps an escaped quote inside its string and a // inside a string out of the comments', () => {
    expect(tokens('when { context.arguments.note like "say \\"hi\\" // not a comment*" }; // a comment "with quotes"')[0]).to.deep.equal([
      ['when', 'keyword'],
      ['{', 'punctuation'],
      ['context', 'variableName.special'],
      ['.', 'punctuation'],
      ['arguments', 'propertyName'],
      ['.', 'punctuation'],
      ['note', 'propertyName'],
      ['like', 'keyword'],
      ['"say \\"hi\\" // not a comment*"', 'string'],
      ['}', 'punctuation'],
      [';', 'punctuation'],
      ['// a comment "with quotes"', 'comment'],
    ]);
  });

  it('carries a string that is not closed on its line over to the next, and reads annotations, numbers and booleans', () => {
    const [first, second, third] = tokens('@id("open\nstill the string") permit (principal, action, resource)\nwhen { context.time.hour >= 8 && true };');
    expect(first).to.deep.equal([
      ['@id', 'meta'],
      ['(', 'punctuation'],
      ['"open', 'string'],
    ]);
    expect(second!.slice(0, 3)).to.deep.equal([
      ['still the string"', 'string'],
      [')', 'punctuation'],
      ['permit', 'keyword'],
    ]);
    expect(third!.filter(([, style]) => ['number', 'bool', 'operator'].includes(style!))).to.deep.equal([
      ['>=', 'operator'],
      ['8', 'number'],
      ['&&', 'operator'],
      ['true', 'bool'],
    ]);
  });
});
