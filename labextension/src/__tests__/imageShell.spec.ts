import { describeEnd, fitSize, inputMessage, keyInput, resizeMessage, Screen, shellUrl } from '../images/shell';

describe('image shell', () => {
  it('builds the socket URL under the server, the values query-encoded', () => {
    expect(shellUrl('ws://h/user/a/', { project: 'ml', image: '127.0.0.1:5000/ml/t:1' }, 30, 100)).toBe(
      'ws://h/user/a/cubelab/api/images/shell?project=ml&image=127.0.0.1%3A5000%2Fml%2Ft%3A1&rows=30&cols=100'
    );
  });

  it('says what a key sends', () => {
    expect(keyInput({ key: 'a' })).toBe('a');
    expect(keyInput({ key: 'Enter' })).toBe('\r');
    expect(keyInput({ key: 'c', ctrlKey: true })).toBe('\x03');
    expect(keyInput({ key: 'ArrowUp' })).toBe('\x1b[A');
    expect(keyInput({ key: 'c', metaKey: true })).toBeNull();
    expect(keyInput({ key: 'Shift' })).toBeNull();
  });

  it('encodes messages and fits the size', () => {
    expect(JSON.parse(inputMessage('ls\r'))).toEqual({ type: 'input', data: 'ls\r' });
    expect(JSON.parse(resizeMessage(0, 5000))).toEqual({ type: 'resize', rows: 1, cols: 1000 });
    expect(fitSize(800, 300, 8, 15)).toEqual({ rows: 20, cols: 100 });
  });

  it('draws output with its cursor moves and drops control sequences', () => {
    const s = new Screen();
    s.write('$ ls\r\n\x1b[1;32mbin\x1b[0m  lib\r\n$ ab\bc');
    expect(s.lines).toEqual(['$ ls', 'bin  lib', '$ ac']);
    s.write('\x1b[');
    s.write('K\r\nnext');
    expect(s.lines[3]).toBe('next');
  });

  it('says how it ended', () => {
    expect(describeEnd({ type: 'exit', code: 3, reason: 'the shell exited with code 3' })).toBe(
      'The shell ended: the shell exited with code 3.'
    );
    expect(describeEnd(null, 'gone')).toBe('The connection to the shell closed: gone.');
  });
});
