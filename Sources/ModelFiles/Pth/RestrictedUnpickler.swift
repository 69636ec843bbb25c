/// What the restricted unpickler builds: only the values a torch state dict contains.
///
/// Containers carry their nesting depth, which the unpickler bounds: a value nested deeper than the file's
/// own size allows would otherwise be freed by recursion as deep as the file wants.
indirect enum PickleValue {
    case none
    case bool(Bool)
    case int(Int)
    case string(String)
    case tuple([PickleValue], depth: Int)
    /// Ordered (key, value) pairs.
    case dict([(PickleValue, PickleValue)], depth: Int)
    /// A class or function reference from GLOBAL; only allowed names get this far.
    case global(String)
    case storage(PickleStorage)
    case tensor(PickleTensor)
    /// A MARK on the stack.
    case mark

    /// Containers nested inside this value, itself included (0 for a scalar).
    var depth: Int {
        switch self {
        case .tuple(_, let depth), .dict(_, let depth): depth
        default: 0
        }
    }

    /// A tuple of `items`, one level deeper than the deepest of them.
    static func tuple(_ items: [PickleValue]) -> PickleValue {
        .tuple(items, depth: 1 + (items.map(\.depth).max() ?? 0))
    }
}

/// A storage named by a persistent id: `('storage', <class>, key, location, numel)`.
struct PickleStorage {
    let className: String
    let key: String
    let elementCount: Int
}

/// The arguments of `torch._utils._rebuild_tensor_v2`.
struct PickleTensor {
    let storage: PickleStorage
    let storageOffset: Int
    let size: [Int]
    let stride: [Int]
}

/// A pickle interpreter that understands only the opcodes and globals `torch.save` uses for a state dict,
/// and refuses everything else. It never imports or calls anything: REDUCE is interpreted for three known
/// callables with their exact argument shapes.
struct RestrictedUnpickler {
    /// Globals allowed as callables (REDUCE) or storage classes (inside persistent ids).
    static let callables: Set<String> = ["collections.OrderedDict", "torch._utils._rebuild_tensor_v2", "torch._utils._rebuild_parameter"]
    static let storageClasses: Set<String> = ["torch.FloatStorage", "torch.HalfStorage", "torch.BFloat16Storage"]
    static let maxStack = 1 << 16, maxMemo = 1 << 22
    /// Deepest container nesting accepted. A state dict needs 4 (dict → tensor arguments → persistent id);
    /// the bound keeps the release of nested values, which recurses, far from the stack's limit.
    static let maxDepth = 64

    let path: String
    private var reader: ByteReader
    private var stack: [PickleValue] = []
    private var memo: [Int: PickleValue] = [:]

    init(path: String, bytes: UnsafeRawBufferPointer) {
        self.path = path
        reader = ByteReader(path: path, bytes: bytes)
    }

    private func fail(_ problem: String, at offset: Int) -> ModelFileError {
        ModelFileError(path, "data.pkl offset \(offset): \(problem)")
    }

    /// Runs the pickle to STOP and returns its result.
    mutating func load() throws -> PickleValue {
        while true {
            let at = reader.offset
            let op = try reader.read(UInt8.self, "pickle opcode")
            switch op {
            case 0x80: // PROTO
                let version = try reader.read(UInt8.self, "protocol")
                guard version >= 2 && version <= 5 else { throw fail("unsupported pickle protocol \(version)", at: at) }
            case 0x95: try reader.skip(8, "frame length") // FRAME
            case 0x2E: // STOP
                guard let top = stack.last, stack.count == 1 else { throw fail("STOP with \(stack.count) values on the stack", at: at) }
                return top
            case 0x63: // GLOBAL
                let module = try readLine(at)
                let name = try readLine(at)
                try push(try global(module + "." + name, at: at), at)
            case 0x93: // STACK_GLOBAL
                guard case .string(let name) = try pop(at), case .string(let module) = try pop(at) else { throw fail("STACK_GLOBAL needs two strings", at: at) }
                try push(try global(module + "." + name, at: at), at)
            case 0x71: try memoize(Int(try reader.read(UInt8.self, "memo index")), at) // BINPUT
            case 0x72: try memoize(Int(try reader.read(UInt32.self, "memo index")), at) // LONG_BINPUT
            case 0x94: try memoize(memo.count, at) // MEMOIZE
            case 0x68: try recall(Int(try reader.read(UInt8.self, "memo index")), at) // BINGET
            case 0x6A: try recall(Int(try reader.read(UInt32.self, "memo index")), at) // LONG_BINGET
            case 0x28: try push(.mark, at) // MARK
            case 0x29: try push(.tuple([]), at) // EMPTY_TUPLE
            case 0x74: try push(.tuple(try popToMark(at)), at) // TUPLE
            case 0x85, 0x86, 0x87: // TUPLE1/2/3
                let count = Int(op) - 0x84
                var items: [PickleValue] = []
                for _ in 0..<count { items.insert(try pop(at), at: 0) }
                guard !items.contains(where: { if case .mark = $0 { true } else { false } }) else { throw fail("TUPLE over a MARK", at: at) }
                try push(.tuple(items), at)
            case 0x58: // BINUNICODE
                let length = try reader.read(UInt32.self, "string length")
                try push(.string(try reader.readString(Int(length), "string")), at)
            case 0x8C: // SHORT_BINUNICODE
                let length = try reader.read(UInt8.self, "string length")
                try push(.string(try reader.readString(Int(length), "string")), at)
            case 0x4B: try push(.int(Int(try reader.read(UInt8.self, "int"))), at) // BININT1
            case 0x4D: try push(.int(Int(try reader.read(UInt16.self, "int"))), at) // BININT2
            case 0x4A: try push(.int(Int(try reader.read(Int32.self, "int"))), at) // BININT
            case 0x8A: // LONG1
                let length = Int(try reader.read(UInt8.self, "long length"))
                guard length <= 8 else { throw fail("integer of \(length) bytes is too large", at: at) }
                let raw = try reader.readBytes(length, "long")
                var value: Int64 = 0
                for (i, byte) in raw.enumerated() { value |= Int64(byte) << (8 * Int64(i)) }
                if length > 0 && length < 8 && raw[length - 1] & 0x80 != 0 { value -= Int64(1) << (8 * Int64(length)) }
                try push(.int(Int(value)), at)
            case 0x88: try push(.bool(true), at) // NEWTRUE
            case 0x89: try push(.bool(false), at) // NEWFALSE
            case 0x4E: try push(.none, at) // NONE
            case 0x7D: try push(.dict([], depth: 1), at) // EMPTY_DICT
            case 0x73: // SETITEM
                let value = try pop(at), key = try pop(at)
                try setItems([(key, value)], at)
            case 0x75: // SETITEMS
                let items = try popToMark(at)
                guard items.count % 2 == 0 else { throw fail("SETITEMS with an odd number of values", at: at) }
                try setItems(stride(from: 0, to: items.count, by: 2).map { (items[$0], items[$0 + 1]) }, at)
            case 0x52: // REDUCE
                let arguments = try pop(at), callable = try pop(at)
                try push(try reduce(callable, arguments, at: at), at)
            case 0x51: // BINPERSID
                try push(try persistentLoad(try pop(at), at: at), at)
            case 0x62: // BUILD: only the state dict's `_metadata` attribute, which is ignored
                _ = try pop(at)
                guard case .dict = stack.last else { throw fail("BUILD applied to something other than a dict", at: at) }
            default:
                let printable = (0x20..<0x7F).contains(op) ? " ('\(Character(UnicodeScalar(op)))')" : ""
                throw fail("unsupported pickle opcode 0x\(String(op, radix: 16, uppercase: true))\(printable); only torch state dicts are read", at: at)
            }
        }
    }

    private mutating func push(_ value: PickleValue, _ at: Int) throws {
        guard stack.count < Self.maxStack else { throw fail("pickle stack too deep", at: at) }
        guard value.depth <= Self.maxDepth else { throw fail("values nested more than \(Self.maxDepth) levels deep", at: at) }
        stack.append(value)
    }

    private mutating func pop(_ at: Int) throws -> PickleValue {
        guard let value = stack.popLast() else { throw fail("pickle stack underflow", at: at) }
        if case .mark = value { throw fail("unexpected MARK", at: at) }
        return value
    }

    private mutating func popToMark(_ at: Int) throws -> [PickleValue] {
        guard let mark = stack.lastIndex(where: { if case .mark = $0 { true } else { false } }) else { throw fail("no MARK on the stack", at: at) }
        let items = Array(stack[(mark + 1)...])
        stack.removeSubrange(mark...)
        return items
    }

    private mutating func memoize(_ index: Int, _ at: Int) throws {
        guard let top = stack.last else { throw fail("memoize on an empty stack", at: at) }
        guard memo.count < Self.maxMemo || memo[index] != nil else { throw fail("too many memo entries", at: at) }
        memo[index] = top
    }

    private mutating func recall(_ index: Int, _ at: Int) throws {
        guard let value = memo[index] else { throw fail("memo entry \(index) is not defined", at: at) }
        try push(value, at)
    }

    private mutating func readLine(_ at: Int) throws -> String {
        var bytes: [UInt8] = []
        while true {
            let byte = try reader.read(UInt8.self, "GLOBAL name")
            if byte == 0x0A { break }
            guard bytes.count < 256 else { throw fail("GLOBAL name too long", at: at) }
            bytes.append(byte)
        }
        guard let text = String(validating: bytes, as: UTF8.self) else { throw fail("GLOBAL name is not UTF-8", at: at) }
        return text
    }

    private func global(_ name: String, at: Int) throws -> PickleValue {
        guard Self.callables.contains(name) || Self.storageClasses.contains(name) else {
            throw fail("refusing global '\(name)': only torch state dicts (OrderedDict, _rebuild_tensor_v2, _rebuild_parameter, Float/Half/BFloat16 storages) are read", at: at)
        }
        return .global(name)
    }

    private mutating func setItems(_ items: [(PickleValue, PickleValue)], _ at: Int) throws {
        guard case .dict(var pairs, let depth) = stack.popLast() else { throw fail("SETITEM on something other than a dict", at: at) }
        pairs += items
        let itemDepth = items.reduce(0) { max($0, $1.0.depth, $1.1.depth) }
        try push(.dict(pairs, depth: max(depth, 1 + itemDepth)), at)
    }

    private func reduce(_ callable: PickleValue, _ arguments: PickleValue, at: Int) throws -> PickleValue {
        guard case .global(let name) = callable, case .tuple(let args, _) = arguments else { throw fail("REDUCE needs a global and a tuple", at: at) }
        switch name {
        case "collections.OrderedDict":
            guard args.isEmpty else { throw fail("OrderedDict with arguments", at: at) }
            return .dict([], depth: 1)
        case "torch._utils._rebuild_tensor_v2":
            guard args.count >= 6, args.count <= 7, case .storage(let storage) = args[0], case .int(let offset) = args[1],
                  case .tuple(let sizeItems, _) = args[2], case .tuple(let strideItems, _) = args[3] else {
                throw fail("unexpected arguments to _rebuild_tensor_v2", at: at)
            }
            let size = try sizeItems.map { item -> Int in
                guard case .int(let v) = item, v >= 0 else { throw fail("bad tensor size", at: at) }
                return v
            }
            let stride = try strideItems.map { item -> Int in
                guard case .int(let v) = item, v >= 0 else { throw fail("bad tensor stride", at: at) }
                return v
            }
            guard size.count == stride.count, offset >= 0 else { throw fail("tensor size and stride disagree", at: at) }
            return .tensor(PickleTensor(storage: storage, storageOffset: offset, size: size, stride: stride))
        case "torch._utils._rebuild_parameter":
            guard args.count == 3, case .tensor = args[0] else { throw fail("unexpected arguments to _rebuild_parameter", at: at) }
            return args[0]
        default:
            throw fail("'\(name)' cannot be called", at: at)
        }
    }

    private func persistentLoad(_ id: PickleValue, at: Int) throws -> PickleValue {
        guard case .tuple(let items, _) = id, items.count == 5, case .string("storage") = items[0],
              case .global(let className) = items[1], Self.storageClasses.contains(className),
              case .string(let key) = items[2], case .int(let count) = items[4], count >= 0 else {
            throw fail("unsupported persistent id (only torch storages of float, half or bfloat16)", at: at)
        }
        return .storage(PickleStorage(className: className, key: key, elementCount: count))
    }
}
