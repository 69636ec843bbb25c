/// A shape or dtype mismatch found while recording a node.
public struct GraphError: Error, CustomStringConvertible, Equatable {
    public let description: String
    public init(_ description: String) { self.description = description }
}

/// A lazy compute graph: every op call records a validated node and computes nothing.
///
/// Build it once (per model and batch size), hand it to an ``Executor``, and run it many times with
/// its slots bound to inputs and state.
public struct Graph: Sendable {
    /// A handle to a node's result.
    public struct Value: Hashable, Sendable {
        public let id: Int
    }

    /// One recorded operation.
    public struct Node: Sendable {
        public let op: Op
        public let inputs: [Value]
        public let dtype: DType
        public let shape: Shape
        /// Nodes that must finish before this one beyond its inputs (writers after readers of a slot).
        public let orderAfter: [Int]
    }

    /// A named input bound at execution.
    public struct Slot: Sendable {
        public let name: String
        public let dtype: DType
        public let shape: Shape
        /// Written by the graph (state); must be bound to writable memory.
        public let isState: Bool
        /// The node that stands for this slot.
        public let value: Value
    }

    public private(set) var nodes: [Node] = []
    public private(set) var slots: [Slot] = []
    /// Results read after a run, by name.
    public private(set) var outputs: [(name: String, value: Value)] = []

    /// Per slot: nodes that read it since it was last written, and its last writer.
    private var slotReaders: [[Int]] = []
    private var slotWriter: [Int?] = []

    public init() {}

    public func dtype(_ v: Value) -> DType { nodes[v.id].dtype }
    public func shape(_ v: Value) -> Shape { nodes[v.id].shape }

    // MARK: - Leaves

    /// A read-only input slot.
    public mutating func input(_ name: String, _ dtype: DType, _ shape: Shape) throws -> Value {
        try addSlot(name, dtype, shape, isState: false)
    }

    /// A read-write f32 state slot (updated in place by ``wkv7(r:w:k:v:a:b:state:headSize:)`` and ``store(_:into:)``).
    public mutating func state(_ name: String, _ shape: Shape) throws -> Value {
        try addSlot(name, .f32, shape, isState: true)
    }

    /// A constant tensor, viewed without copying.
    public mutating func weight(_ tensor: Tensor) -> Value {
        record(.weight(tensor), [], tensor.dtype, tensor.shape)
    }

    /// Marks `value` as a result readable after each run under `name`.
    public mutating func output(_ value: Value, _ name: String) throws {
        guard !outputs.contains(where: { $0.name == name }) else { throw GraphError("output '\(name)' is defined twice") }
        guard nodes[value.id].op.isComputed else { throw GraphError("output '\(name)' must be a computed node") }
        outputs.append((name, value))
    }

    // MARK: - Operations

    /// `W[K, M] · x[K, T] → [M, T]`; x is f32, W any float or block type with K a multiple of its block.
    public mutating func matmul(_ weight: Value, _ x: Value) throws -> Value {
        let w = shape(weight), s = shape(x)
        try requireF32("matmul", x)
        guard w.rank <= 2, s.rank <= 2, w[0] == s[0] else {
            throw GraphError("matmul: weight \(w) and input \(s) do not agree (need W [K, M] and x [K, T])")
        }
        let traits = dtype(weight).traits
        guard traits.vecDot != nil || traits.interleavedFrom != nil else { throw GraphError("matmul: weight dtype \(dtype(weight)) has no dot product") }
        var activations = x
        if traits.activationType != .f32 {
            let type = traits.activationType
            guard s[0] % type.blockSize == 0 else {
                throw GraphError("matmul: row length \(s[0]) is not a multiple of \(type)'s block size")
            }
            activations = record(.convertRows(type), [x], type, s)
        }
        return record(.matmul, [weight, activations], .f32, Shape(w[1], s[1]))
    }

    public mutating func add(_ a: Value, _ b: Value) throws -> Value { try binary(.add, a, b) }
    public mutating func sub(_ a: Value, _ b: Value) throws -> Value { try binary(.sub, a, b) }
    public mutating func mul(_ a: Value, _ b: Value) throws -> Value { try binary(.mul, a, b) }

    /// `a + (b − a) ⊙ t`; b is `[C, T]` like a, t row-broadcast.
    public mutating func lerp(_ a: Value, _ b: Value, _ t: Value) throws -> Value {
        try requireF32("lerp", a, b, t)
        try requireSame("lerp", a, b)
        try requireRowBroadcast("lerp", t, over: a)
        return record(.lerp, [a, b, t], .f32, shape(a))
    }

    /// Token shift of `x [C, T]` with `previous [C]` as the row before the first.
    public mutating func shift(_ x: Value, previous: Value) throws -> Value {
        try requireF32("shift", x, previous)
        let s = shape(x), p = shape(previous)
        guard s.rank <= 2, p.count == s[0] else { throw GraphError("shift: previous \(p) does not match rows of \(s)") }
        return record(.shift, [x, previous], .f32, s)
    }

    public mutating func layerNorm(_ x: Value, weight: Value, bias: Value, eps: Float) throws -> Value {
        try requireF32("layer_norm", x, weight, bias)
        try requireVector("layer_norm", weight, length: shape(x)[0])
        try requireVector("layer_norm", bias, length: shape(x)[0])
        return record(.layerNorm(eps: eps), [x, weight, bias], .f32, shape(x))
    }

    public mutating func groupNorm(_ x: Value, weight: Value, bias: Value, groups: Int, eps: Float) throws -> Value {
        try requireF32("group_norm", x, weight, bias)
        let c = shape(x)[0]
        guard groups > 0, c % groups == 0 else { throw GraphError("group_norm: \(groups) groups do not divide rows of \(shape(x))") }
        try requireVector("group_norm", weight, length: c)
        try requireVector("group_norm", bias, length: c)
        return record(.groupNorm(groups: groups, eps: eps), [x, weight, bias], .f32, shape(x))
    }

    public mutating func unary(_ function: UnaryFunction, _ x: Value) throws -> Value {
        try requireF32(function.rawValue, x)
        return record(.unary(function), [x], .f32, shape(x))
    }

    public mutating func sigmoid(_ x: Value) throws -> Value { try unary(.sigmoid, x) }
    public mutating func tanh(_ x: Value) throws -> Value { try unary(.tanh, x) }
    public mutating func exp(_ x: Value) throws -> Value { try unary(.exp, x) }

    public mutating func scale(_ x: Value, _ factor: Float) throws -> Value {
        try requireF32("scale", x)
        return record(.scale(factor), [x], .f32, shape(x))
    }

    public mutating func l2NormalizeHeads(_ x: Value, headSize: Int, eps: Float) throws -> Value {
        try requireF32("l2_normalize_heads", x)
        guard headSize > 0, shape(x)[0] % headSize == 0 else {
            throw GraphError("l2_normalize_heads: head size \(headSize) does not divide rows of \(shape(x))")
        }
        return record(.l2NormalizeHeads(headSize: headSize, eps: eps), [x], .f32, shape(x))
    }

    /// Per head h and token t: `(Σ_n a·b·c over the head) · v` — `a`, `b`, `v` `[C, T]`, `c` row-broadcast.
    public mutating func headDotScale(_ a: Value, _ b: Value, _ c: Value, _ v: Value, headSize: Int) throws -> Value {
        try requireF32("head_dot_scale", a, b, c, v)
        try requireSame("head_dot_scale", a, b)
        try requireSame("head_dot_scale", a, v)
        try requireRowBroadcast("head_dot_scale", c, over: a)
        guard headSize > 0, shape(a)[0] % headSize == 0 else {
            throw GraphError("head_dot_scale: head size \(headSize) does not divide rows of \(shape(a))")
        }
        return record(.headDotScale(headSize: headSize), [a, b, c, v], .f32, shape(a))
    }

    /// Per token, `u [rows, T]` times the token's matrix in `m [rows·columns, T]` → `[columns, T]`.
    public mutating func vectorTimesTokenMatrix(_ u: Value, _ m: Value, columns: Int) throws -> Value {
        try requireF32("vector_times_token_matrix", u, m)
        let su = shape(u), sm = shape(m)
        guard su.rank <= 2, sm.rank <= 2, columns > 0, sm[0] == su[0] * columns, sm[1] == su[1] else {
            throw GraphError("vector_times_token_matrix: vectors \(su) and matrices \(sm) do not agree for \(columns) columns")
        }
        return record(.vectorTimesTokenMatrix(rows: su[0], columns: columns), [u, m], .f32, Shape(columns, su[1]))
    }

    /// Rows of `table [C, V]` picked by i32 `ids [T]`, as f32 `[C, T]`. Ids are range-checked at run time.
    public mutating func getRows(_ table: Value, ids: Value) throws -> Value {
        guard dtype(ids) == .i32, shape(ids).rank == 1 else {
            throw GraphError("get_rows: ids must be i32 [T], got \(dtype(ids)) \(shape(ids))")
        }
        guard shape(table).rank == 2, dtype(table).traits.dequantizeRow != nil else {
            throw GraphError("get_rows: table must be a 2-D float or block tensor, got \(dtype(table)) \(shape(table))")
        }
        return record(.getRows, [table, ids], .f32, Shape(shape(table)[0], shape(ids)[0]))
    }

    /// Rows `start ..< start + count` of a `[C, T]` value.
    public mutating func rows(_ x: Value, start: Int, count: Int) throws -> Value {
        try requireF32("rows", x)
        let s = shape(x)
        guard s.rank <= 2, start >= 0, count > 0, start + count <= s[1] else {
            throw GraphError("rows: \(start)..<\(start + count) is outside \(s)")
        }
        return record(.rows(start: start, count: count), [x], .f32, Shape(s[0], count))
    }

    /// The WKV-7 recurrence over all tokens of r, w, k, v, a, b `[C, T]`; `state` is an `[N, N, H]` state slot.
    public mutating func wkv7(r: Value, w: Value, k: Value, v: Value, a: Value, b: Value,
                              state: Value, headSize n: Int) throws -> Value {
        try requireF32("wkv7", r, w, k, v, a, b)
        for other in [w, k, v, a, b] { try requireSame("wkv7", r, other) }
        let c = shape(r)[0]
        guard n > 0, c % n == 0, shape(state) == Shape(n, n, c / n) else {
            throw GraphError("wkv7: state \(shape(state)) does not match \(c / max(n, 1)) heads of \(n) for input \(shape(r))")
        }
        let slot = try stateSlot("wkv7", state)
        return record(.wkv7(headSize: n), [r, w, k, v, a, b, state], .f32, shape(r), writes: slot)
    }

    /// Copies `value` into the state slot `state` once every earlier reader of that slot has run.
    public mutating func store(_ value: Value, into state: Value) throws {
        let slot = try stateSlot("store", state)
        guard shape(value).count == shape(state).count, dtype(value) == .f32 else {
            throw GraphError("store: value \(dtype(value)) \(shape(value)) does not fit state \(shape(state))")
        }
        _ = record(.store(slot: slot), [value], .f32, shape(value), writes: slot)
    }

    // MARK: - Recording and checks

    private mutating func addSlot(_ name: String, _ dtype: DType, _ shape: Shape, isState: Bool) throws -> Value {
        guard !slots.contains(where: { $0.name == name }) else { throw GraphError("slot '\(name)' is defined twice") }
        _ = try Tensor.validate(dtype: dtype, shape: shape)
        let value = record(.slot(index: slots.count), [], dtype, shape)
        slots.append(Slot(name: name, dtype: dtype, shape: shape, isState: isState, value: value))
        slotReaders.append([])
        slotWriter.append(nil)
        return value
    }

    private mutating func record(_ op: Op, _ inputs: [Value], _ dtype: DType, _ shape: Shape, writes slot: Int? = nil) -> Value {
        let id = nodes.count
        var after: [Int] = []
        for input in inputs {
            if case .slot(let index) = nodes[input.id].op {
                if let writer = slotWriter[index] { after.append(writer) }
                if index != slot { slotReaders[index].append(id) }
            }
        }
        if let slot {
            after += slotReaders[slot]
            if let writer = slotWriter[slot] { after.append(writer) }
            slotReaders[slot] = []
            slotWriter[slot] = id
        }
        nodes.append(Node(op: op, inputs: inputs, dtype: dtype, shape: shape, orderAfter: after))
        return Value(id: id)
    }

    private func stateSlot(_ op: String, _ v: Value) throws -> Int {
        guard case .slot(let index) = nodes[v.id].op, slots[index].isState else {
            throw GraphError("\(op): the state must be a state slot")
        }
        return index
    }

    private func requireF32(_ op: String, _ values: Value...) throws {
        for v in values where dtype(v) != .f32 {
            throw GraphError("\(op): input \(shape(v)) is \(dtype(v)), expected f32")
        }
    }

    /// Equal as `[row length, rows]` (a state `[C]` stands for one row `[C, 1]`).
    private func requireSame(_ op: String, _ a: Value, _ b: Value) throws {
        let sa = shape(a), sb = shape(b)
        guard sa.rowLength == sb.rowLength, sa.rowCount == sb.rowCount else {
            throw GraphError("\(op): shapes \(sa) and \(sb) differ")
        }
    }

    private func requireVector(_ op: String, _ v: Value, length: Int) throws {
        guard shape(v).count == length, shape(v)[0] == length else {
            throw GraphError("\(op): parameter \(shape(v)) should be [\(length)]")
        }
    }

    private func requireRowBroadcast(_ op: String, _ b: Value, over a: Value) throws {
        let sa = shape(a), sb = shape(b)
        guard sa.rank <= 2, sb == sa || (sb.count == sa[0] && sb[0] == sa[0]) else {
            throw GraphError("\(op): shapes \(sa) and \(sb) do not broadcast (need equal shapes or [\(sa[0])])")
        }
    }

    private mutating func binary(_ op: Op, _ a: Value, _ b: Value) throws -> Value {
        try requireF32(op.name, a, b)
        try requireRowBroadcast(op.name, b, over: a)
        return record(op, [a, b], .f32, shape(a))
    }
}

extension Op {
    /// Whether the executor computes this node (slots and weights are leaves).
    var isComputed: Bool {
        switch self {
        case .slot, .weight: false
        default: true
        }
    }
}
