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

    // Operations are recorded by the constructors in Ops/*.swift, one file per group of the op table.

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

    mutating func record(_ op: Op, _ inputs: [Value], _ dtype: DType, _ shape: Shape, writes slot: Int? = nil) -> Value {
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

    func stateSlot(_ op: String, _ v: Value) throws -> Int {
        guard case .slot(let index) = nodes[v.id].op, slots[index].isState else {
            throw GraphError("\(op): the state must be a state slot")
        }
        return index
    }

    func requireF32(_ op: String, _ values: Value...) throws {
        for v in values where dtype(v) != .f32 {
            throw GraphError("\(op): input \(shape(v)) is \(dtype(v)), expected f32")
        }
    }

    /// Equal as `[row length, rows]` (a state `[C]` stands for one row `[C, 1]`).
    func requireSame(_ op: String, _ a: Value, _ b: Value) throws {
        let sa = shape(a), sb = shape(b)
        guard sa.rowLength == sb.rowLength, sa.rowCount == sb.rowCount else {
            throw GraphError("\(op): shapes \(sa) and \(sb) differ")
        }
    }

    func requireVector(_ op: String, _ v: Value, length: Int) throws {
        guard shape(v).count == length, shape(v)[0] == length else {
            throw GraphError("\(op): parameter \(shape(v)) should be [\(length)]")
        }
    }

    func requireRowBroadcast(_ op: String, _ b: Value, over a: Value) throws {
        let sa = shape(a), sb = shape(b)
        guard sa.rank <= 2, sb == sa || (sb.count == sa[0] && sb[0] == sa[0]) else {
            throw GraphError("\(op): shapes \(sa) and \(sb) do not broadcast (need equal shapes or [\(sa[0])])")
        }
    }
}
