import Foundation
import Tensor
import Testing

/// Paths of committed test fixtures.
enum Fixtures {
    static let directory = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures")

    static func data(_ name: String) throws -> Data { try Data(contentsOf: directory.appendingPathComponent(name)) }

    static func floats(_ name: String) throws -> [Float] {
        try data(name).withUnsafeBytes { raw in (0..<(raw.count / 4)).map { Float(bitPattern: UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: $0 * 4, as: UInt32.self))) } }
    }
}

extension Tensor {
    /// A deep copy in owned f32 memory.
    func cloned() throws -> Tensor { try Tensor(floats(), shape: shape) }
}

/// Random f32 tensor.
func randomTensor(_ shape: Shape, scale: Float = 1, seed: UInt64) throws -> Tensor {
    var generator = SeededGenerator(seed: seed)
    return try Tensor(generator.floats(shape.count, scale: scale), shape: shape)
}

/// Builds a graph from named inputs and states, runs it with the reference interpreter and with the
/// executor at each thread count and each kernel ISA level this machine supports, and checks that every
/// executor result matches the reference within `tolerance` (relative to max(1, |reference|)) and that all
/// thread counts and levels agree bit for bit.
func checkAgainstReference(
    inputs: [(String, Tensor)], states: [(String, Tensor)] = [],
    threads: [Int] = [1, 2, 3, 4, 8], levels: [KernelLevel] = KernelLevel.supported,
    tolerance: Float = 1e-5, errorScales: [[Float]]? = nil, runs: Int = 2,
    sourceLocation: SourceLocation = #_sourceLocation,
    _ build: (inout Graph, [String: Graph.Value]) throws -> [Graph.Value]
) throws {
    var graph = Graph()
    var values: [String: Graph.Value] = [:]
    for (name, tensor) in inputs { values[name] = try graph.input(name, tensor.dtype, tensor.shape) }
    for (name, tensor) in states { values[name] = try graph.state(name, tensor.shape) }
    let results = try build(&graph, values)
    for (i, value) in results.enumerated() { try graph.output(value, "out\(i)") }

    // Reference: `runs` consecutive runs carrying the state.
    var referenceStates = Dictionary(uniqueKeysWithValues: states.map { ($0.0, $0.1) })
    var reference = ReferenceInterpreter.Result(outputs: [:], states: [:])
    for _ in 0..<runs {
        var bindings = Dictionary(uniqueKeysWithValues: inputs.map { ($0.0, $0.1) })
        for (name, tensor) in referenceStates { bindings[name] = tensor }
        reference = try ReferenceInterpreter.run(graph, inputs: bindings)
        for (name, values) in reference.states { referenceStates[name] = try Tensor(values, shape: referenceStates[name]!.shape) }
    }

    var firstBits: [[UInt32]]?
    for level in levels {
        for count in threads {
            let executor = Executor(graph: graph, threads: count, level: level)
            for (name, tensor) in inputs { try executor.bind(name, tensor) }
            let stateTensors = try states.map { ($0.0, try $0.1.cloned()) }
            for (name, tensor) in stateTensors { try executor.bind(name, tensor) }
            for _ in 0..<runs { try executor.run() }
            var bits: [[UInt32]] = []
            for i in results.indices {
                let got = try executor.output("out\(i)").floats()
                let want = reference.outputs["out\(i)"]!
                try expectClose(got, want, tolerance: tolerance, scale: errorScales?[i], "\(level) \(count) threads, output \(i)", sourceLocation)
                bits.append(got.map(\.bitPattern))
            }
            for (name, tensor) in stateTensors {
                let got = tensor.floats()
                try expectClose(got, reference.states[name]!, tolerance: tolerance, "\(level) \(count) threads, state \(name)", sourceLocation)
                bits.append(got.map(\.bitPattern))
            }
            if let firstBits {
                #expect(bits == firstBits, "\(level) with \(count) threads is not bit-identical to \(levels[0]) with \(threads[0])", sourceLocation: sourceLocation)
            } else {
                firstBits = bits
            }
        }
    }

    // Every node a task of its own: bit-identical to the folded runs.
    let unfolded = Executor(graph: graph, threads: 2, foldingElementwise: false)
    for (name, tensor) in inputs { try unfolded.bind(name, tensor) }
    let stateTensors = try states.map { ($0.0, try $0.1.cloned()) }
    for (name, tensor) in stateTensors { try unfolded.bind(name, tensor) }
    for _ in 0..<runs { try unfolded.run() }
    let bits = try results.indices.map { try unfolded.output("out\($0)").floats().map(\.bitPattern) } + stateTensors.map { $0.1.floats().map(\.bitPattern) }
    #expect(bits == firstBits, "folded and unfolded executions differ", sourceLocation: sourceLocation)
}

/// Expects `got ≈ want` element-wise: |Δ| ≤ tolerance · max(1, |want|), or · max(1, scale) where a scale is
/// given (for a dot product, Σ|a·b|: the size of its rounding error however much the terms cancel).
func expectClose(_ got: [Float], _ want: [Float], tolerance: Float, scale: [Float]? = nil, _ what: String, _ sourceLocation: SourceLocation) throws {
    try #require(got.count == want.count, "\(what): \(got.count) values, expected \(want.count)", sourceLocation: sourceLocation)
    var worst: Float = 0
    var worstIndex = 0
    for i in got.indices {
        let error = abs(got[i] - want[i]) / max(1, scale?[i] ?? abs(want[i]))
        if !(error <= worst) { worst = error; worstIndex = i }
    }
    #expect(worst <= tolerance, "\(what): element \(worstIndex) is \(got.isEmpty ? 0 : got[worstIndex]), expected \(want.isEmpty ? 0 : want[worstIndex]) (relative error \(worst))", sourceLocation: sourceLocation)
}

/// Every test suite of this target, nested here and run one at a time: the allocation-counting test
/// counts the whole process's heap calls, so no other test may run beside it.
@Suite(.serialized) struct TensorTestSuite {}
