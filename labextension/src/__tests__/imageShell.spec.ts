import { describeEnd, inputMessage, leftToBrowser, resizeMessage, shellUrl, terminalTheme } from '../images/shell';

describe('image shell', () => {
  it('builds the socket URL under the server, the values query-encoded', () => {
    expect(shellUrl('ws://h/user/a/', { project: 'ml', image: '127.0.0.1:5000/ml/t:1' }, 30, 100)).toBe(
      'ws://h/user/a/cubelab/api/images/shell?project=ml&image=127.0.0.1%3A5000%2Fml%2Ft%3A1&rows=30&cols=100'
    );
  });

  it('encodes messages, the size within bounds', () => {
    expect(JSON.parse(inputMessage('ls\r'))).toEqual({ type: 'input', data: 'ls\r' });
    expect(JSON.parse(resizeMessage(0, 5000))).toEqual({ type: 'resize', rows: 1, cols: 1000 });
  });

  it('takes the terminal colours from the Lab theme, leaving unset ones to xterm', () => {
    const vars: Record<string, string> = { '--jp-layout-color0': ' #111111', '--jp-ui-font-color0': '#eeeeee' };
    expect(terminalTheme(name => vars[name] ?? '')).toEqual({
      background: '#111111',
      foreground: '#eeeeee',
      cursor: '#eeeeee',
      cursorAccent: '#111111'
    });
  });

  it('leaves copy (with a selection) and paste to the browser, other keys to the shell', () => {
    const key = (k: string, more: Partial<KeyboardEvent> = {}) => ({
      type: 'keydown',
      key: k,
      ctrlKey: true,
      shiftKey: false,
      altKey: false,
      metaKey: false,
      ...more
    });
    expect(leftToBrowser(key('c'), true)).toBe(true);
    expect(leftToBrowser(key('c'), false)).toBe(false); // an interrupt
    expect(leftToBrowser(key('v'), false)).toBe(true);
    expect(leftToBrowser(key('d'), true)).toBe(false);
    expect(leftToBrowser(key('v', { ctrlKey: false }), false)).toBe(false);
    expect(leftToBrowser(key('v', { type: 'keyup' }), false)).toBe(false);
  });

  it('says how it ended', () => {
    expect(describeEnd({ type: 'exit', code: 3, reason: 'the shell exited with code 3' })).toBe(
      'The shell ended: the shell exited with code 3.'
    );
    expect(describeEnd(null, 'gone')).toBe('The connection to the shell closed: gone.');
  });
});
