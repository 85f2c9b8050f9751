// A restricted pickle virtual machine: data opcodes only, and globals only through an allow-list the caller supplies.
// Nothing here ever imports, evaluates or calls code named by the pickle; a global is a value the hooks hand back.

/** A global the caller allowed; `call` (if any) is the only behaviour REDUCE/NEWOBJ may trigger. */
export interface PickleGlobal {
  readonly kind: 'pickle-global';
  readonly module: string;
  readonly name: string;
  readonly call?: (args: readonly unknown[]) => unknown;
}

export interface PickleHooks {
  /** Return the allowed global, or throw to refuse the whole file. Called for every GLOBAL/STACK_GLOBAL. */
  findGlobal(module: string, name: string): PickleGlobal;
  /** Resolves BINPERSID references (torch uses them for storages). */
  persistentLoad?(pid: unknown): unknown;
}

/** Raised for malformed pickles and opcodes outside the supported data subset. */
export class PickleError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'PickleError';
  }
}

export function isPickleGlobal(v: unknown): v is PickleGlobal {
  return typeof v === 'object' && v !== null && (v as PickleGlobal).kind === 'pickle-global';
}

const MARK = Symbol('mark');

/**
 * Runs `data` (protocols 2-5, binary opcodes; plus the text GLOBAL/PUT/GET forms) and returns the top object.
 * Dicts become Maps (insertion order kept), lists arrays, tuples frozen arrays, bytes Uint8Arrays,
 * ints numbers (bigints beyond 2^53). BUILD state is dropped: setting attributes would mean running class code.
 */
export function unpickle(data: Uint8Array, hooks: PickleHooks, where = '<pickle>'): unknown {
  data = new Uint8Array(data.buffer, data.byteOffset, data.byteLength); // Buffer.slice would alias; Uint8Array.slice copies
  const dv = new DataView(data.buffer, data.byteOffset, data.byteLength);
  const stack: unknown[] = [];
  const marks: number[] = [];
  const memo = new Map<number, unknown>();
  let p = 0;

  const fail = (msg: string): never => {
    throw new PickleError(`${where}: ${msg} (at byte ${p} of ${data.byteLength})`);
  };
  const need = (n: number): void => {
    if (p + n > data.byteLength) fail('the pickle ends early; the file is truncated');
  };
  const u8 = (): number => (need(1), data[p++]);
  const u16 = (): number => {
    need(2);
    const v = dv.getUint16(p, true);
    p += 2;
    return v;
  };
  const u32 = (): number => {
    need(4);
    const v = dv.getUint32(p, true);
    p += 4;
    return v;
  };
  const u64 = (): number => {
    need(8);
    const v = dv.getBigUint64(p, true);
    p += 8;
    if (v > BigInt(Number.MAX_SAFE_INTEGER)) fail('length field too large');
    return Number(v);
  };
  const bytes = (n: number): Uint8Array => {
    need(n);
    const b = data.slice(p, p + n);
    p += n;
    return b;
  };
  const utf8 = (n: number): string => Buffer.from(bytes(n)).toString('utf8');
  const line = (): string => {
    const end = data.indexOf(0x0a, p);
    if (end < 0) fail('unterminated text argument');
    const s = Buffer.from(data.subarray(p, end)).toString('latin1');
    p = end + 1;
    return s;
  };
  const pop = (): unknown => {
    if (stack.length === 0 || (marks.length && stack.length <= marks[marks.length - 1])) fail('stack underflow');
    return stack.pop();
  };
  const top = (): unknown => {
    if (stack.length === 0) fail('stack underflow');
    return stack[stack.length - 1];
  };
  const popMark = (): unknown[] => {
    const m = marks.pop();
    if (m === undefined) fail('MARK expected');
    return stack.splice(m as number);
  };
  const global = (module: string, name: string): void => {
    stack.push(hooks.findGlobal(module, name));
  };
  const call = (fn: unknown, args: unknown): unknown => {
    if (!isPickleGlobal(fn) || !fn.call) {
      const what = isPickleGlobal(fn) ? `${fn.module}.${fn.name}` : typeof fn;
      return fail(`the pickle calls ${what}, which rlhfkit only accepts as data, not as a function`);
    }
    if (!Array.isArray(args)) return fail(`arguments to ${fn.module}.${fn.name} are not a tuple`);
    return fn.call(args);
  };
  const asMap = (v: unknown): Map<unknown, unknown> => (v instanceof Map ? v : fail('SETITEM on something that is not a dict'));
  const asList = (v: unknown): unknown[] => (Array.isArray(v) && !Object.isFrozen(v) ? v : fail('APPEND on something that is not a list'));
  const long = (b: Uint8Array): number | bigint => {
    if (b.length === 0) return 0;
    let v = 0n;
    for (let i = b.length - 1; i >= 0; i--) v = (v << 8n) | BigInt(b[i]);
    if (b[b.length - 1] & 0x80) v -= 1n << BigInt(8 * b.length);
    return v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v;
  };

  for (;;) {
    const opAt = p;
    const op = u8();
    switch (op) {
      case 0x80: // PROTO
        if (u8() > 5) fail('pickle protocol newer than 5');
        break;
      case 0x95: // FRAME: a length hint only
        u64();
        break;
      case 0x2e: // STOP
        if (stack.length !== 1) fail(`STOP with ${stack.length} values on the stack`);
        return stack[0];
      case 0x28: // MARK
        marks.push(stack.length);
        break;
      case 0x30: // POP
        if (marks.length && marks[marks.length - 1] === stack.length) marks.pop();
        else pop();
        break;
      case 0x31: // POP_MARK
        popMark();
        break;
      case 0x32: // DUP
        stack.push(top());
        break;
      case 0x4e: // NONE
        stack.push(null);
        break;
      case 0x88: // NEWTRUE
        stack.push(true);
        break;
      case 0x89: // NEWFALSE
        stack.push(false);
        break;
      case 0x4a: // BININT
        need(4);
        stack.push(dv.getInt32(p, true));
        p += 4;
        break;
      case 0x4b: // BININT1
        stack.push(u8());
        break;
      case 0x4d: // BININT2
        stack.push(u16());
        break;
      case 0x8a: // LONG1
        stack.push(long(bytes(u8())));
        break;
      case 0x8b: // LONG4
        stack.push(long(bytes(u32())));
        break;
      case 0x47: // BINFLOAT (big-endian double)
        need(8);
        stack.push(dv.getFloat64(p, false));
        p += 8;
        break;
      case 0x58: // BINUNICODE
        stack.push(utf8(u32()));
        break;
      case 0x8c: // SHORT_BINUNICODE
        stack.push(utf8(u8()));
        break;
      case 0x8d: // BINUNICODE8
        stack.push(utf8(u64()));
        break;
      case 0x54: // BINSTRING (py2 str; latin-1 like Python 3's encoding='latin1')
        stack.push(Buffer.from(bytes(u32())).toString('latin1'));
        break;
      case 0x55: // SHORT_BINSTRING
        stack.push(Buffer.from(bytes(u8())).toString('latin1'));
        break;
      case 0x42: // BINBYTES
        stack.push(bytes(u32()));
        break;
      case 0x43: // SHORT_BINBYTES
        stack.push(bytes(u8()));
        break;
      case 0x8e: // BINBYTES8
        stack.push(bytes(u64()));
        break;
      case 0x29: // EMPTY_TUPLE
        stack.push(Object.freeze([]));
        break;
      case 0x74: // TUPLE
        stack.push(Object.freeze(popMark()));
        break;
      case 0x85: // TUPLE1
        stack.push(Object.freeze([pop()]));
        break;
      case 0x86: {
        // TUPLE2
        const b = pop();
        stack.push(Object.freeze([pop(), b]));
        break;
      }
      case 0x87: {
        // TUPLE3
        const c = pop();
        const b = pop();
        stack.push(Object.freeze([pop(), b, c]));
        break;
      }
      case 0x5d: // EMPTY_LIST
        stack.push([]);
        break;
      case 0x6c: // LIST
        stack.push(popMark());
        break;
      case 0x61: {
        // APPEND
        const v = pop();
        asList(top()).push(v);
        break;
      }
      case 0x65: {
        // APPENDS
        const items = popMark();
        asList(top()).push(...items);
        break;
      }
      case 0x7d: // EMPTY_DICT
        stack.push(new Map());
        break;
      case 0x64: {
        // DICT
        const items = popMark();
        const m = new Map<unknown, unknown>();
        for (let i = 0; i + 1 < items.length; i += 2) m.set(items[i], items[i + 1]);
        stack.push(m);
        break;
      }
      case 0x73: {
        // SETITEM
        const v = pop();
        const k = pop();
        asMap(top()).set(k, v);
        break;
      }
      case 0x75: {
        // SETITEMS
        const items = popMark();
        const m = asMap(top());
        for (let i = 0; i + 1 < items.length; i += 2) m.set(items[i], items[i + 1]);
        break;
      }
      case 0x63: {
        // GLOBAL "module\nname\n"
        const module = line();
        global(module, line());
        break;
      }
      case 0x93: {
        // STACK_GLOBAL
        const name = pop();
        const module = pop();
        if (typeof module !== 'string' || typeof name !== 'string') fail('STACK_GLOBAL needs two strings');
        global(module as string, name as string);
        break;
      }
      case 0x52: {
        // REDUCE
        const args = pop();
        stack.push(call(pop(), args));
        break;
      }
      case 0x81: {
        // NEWOBJ: cls.__new__(cls, *args), only for allowed callables
        const args = pop();
        stack.push(call(pop(), args));
        break;
      }
      case 0x62: // BUILD: drop the state (see the doc comment)
        pop();
        top();
        break;
      case 0x51: {
        // BINPERSID
        const pid = pop();
        if (!hooks.persistentLoad) fail('persistent id in a pickle that allows none');
        stack.push(hooks.persistentLoad!(pid));
        break;
      }
      case 0x71: // BINPUT
        memo.set(u8(), top());
        break;
      case 0x72: // LONG_BINPUT
        memo.set(u32(), top());
        break;
      case 0x94: // MEMOIZE
        memo.set(memo.size, top());
        break;
      case 0x70: // PUT
        memo.set(parseInt(line(), 10), top());
        break;
      case 0x68: // BINGET
      case 0x6a: // LONG_BINGET
      case 0x67: {
        // GET
        const idx = op === 0x68 ? u8() : op === 0x6a ? u32() : parseInt(line(), 10);
        if (!memo.has(idx)) fail(`memo entry ${idx} used before it was stored`);
        stack.push(memo.get(idx));
        break;
      }
      default:
        p = opAt;
        fail(`unsupported pickle opcode 0x${op.toString(16).padStart(2, '0')} ('${String.fromCharCode(op)}'); rlhfkit reads only the data subset torch.save writes`);
    }
  }
}
