/**
 * A parser of server-sent events (`text/event-stream`) fed with text chunks as
 * they arrive: the control plane's `/runs/{id}/events` stream, read through a
 * fetch stream (so the request carries the server's auth headers).
 */

export interface IServerSentEvent {
  event: string;
  data: string;
  id: string | null;
}

export class EventStreamParser {
  constructor(readonly onEvent: (event: IServerSentEvent) => void) {}

  /** Feed the next chunk; complete events are dispatched at once. */
  push(chunk: string): void {
    this._buffer += chunk;
    for (;;) {
      const m = /\r\n|\r|\n/.exec(this._buffer);
      if (!m) {
        return;
      }
      // a lone CR at the very end may be the first half of CRLF
      if (m[0] === '\r' && m.index === this._buffer.length - 1) {
        return;
      }
      const line = this._buffer.slice(0, m.index);
      this._buffer = this._buffer.slice(m.index + m[0].length);
      this.line(line);
    }
  }

  private line(line: string): void {
    if (line === '') {
      if (this._data.length) {
        this.onEvent({
          event: this._event || 'message',
          data: this._data.join('\n'),
          id: this._id
        });
      }
      this._event = '';
      this._data = [];
      return;
    }
    if (line.startsWith(':')) {
      return; // a comment (keep-alive)
    }
    const colon = line.indexOf(':');
    const field = colon < 0 ? line : line.slice(0, colon);
    let value = colon < 0 ? '' : line.slice(colon + 1);
    if (value.startsWith(' ')) {
      value = value.slice(1);
    }
    if (field === 'event') {
      this._event = value;
    } else if (field === 'data') {
      this._data.push(value);
    } else if (field === 'id') {
      this._id = value;
    }
  }

  private _buffer = '';
  private _event = '';
  private _data: string[] = [];
  private _id: string | null = null;
}
