import Foundation

/// Naive evaluation of a ``Graph``, node by node in recording order, with the plainest loops: the test
/// oracle for the executor and its kernels. Slow by design; never used for inference.
public enum ReferenceInterpreter {
    /// Results of a reference run: outputs by name and the final contents of every state slot.
    public struct Result {
        public var outputs: [String: [Float]]
        public var states: [String: [Float]]

        public init(outputs: [String: [Float]], states: [String: [Float]]) {
            self.outputs = outputs
            self.states = states
        }
    }

    /// Evaluates `graph` with slots taken from `inputs` (by slot name).
    public static func run(_ graph: Graph, inputs: [String: Tensor]) throws -> Result {
        var values = [[Float]](repeating: [], count: graph.nodes.count)
        var encoded = [[UInt8]](repeating: [], count: graph.nodes.count)
        var slotValues: [[Float]] = []
        for slot in graph.slots {
            guard let tensor = inputs[slot.name] else { throw ExecutionError("slot '\(slot.name)' is not bound") }
            slotValues.append(tensor.floats())
        }
        for (id, node) in graph.nodes.enumerated() {
            func x(_ i: Int) -> [Float] {
                if case .slot(let s) = graph.nodes[node.inputs[i].id].op { return slotValues[s] }
                return values[node.inputs[i].id]
            }
            let width = node.inputs.first.map { graph.shape($0)[0] } ?? 0
            switch node.op {
            case .slot: continue
            case .weight(let tensor): values[id] = tensor.dtype == .i32 || tensor.dtype.traits.dequantizeRow != nil ? tensor.floats() : []
            case .convertRows(let type):
                let input = x(0), k = width
                var bytes = [UInt8](repeating: 0, count: type.rowBytes(k) * (input.count / k))
                for t in 0..<(input.count / k) {
                    input.withUnsafeBufferPointer { src in
                        bytes.withUnsafeMutableBytes { dst in
                            type.traits.quantizeRow!(src.baseAddress! + t * k, dst.baseAddress! + t * type.rowBytes(k), k)
                        }
                    }
                }
                encoded[id] = bytes
            case .matmul:
                values[id] = try matmul(graph, node, activations: node.inputs[1], floats: x(1), encoded: encoded[node.inputs[1].id])
            case .add: values[id] = broadcast(x(0), x(1), width, +)
            case .sub: values[id] = broadcast(x(0), x(1), width, -)
            case .mul: values[id] = broadcast(x(0), x(1), width, *)
            case .lerp:
                let a = x(0), b = x(1), t = x(2)
                values[id] = a.indices.map { a[$0] + (b[$0] - a[$0]) * t[$0 % t.count] }
            case .shift:
                let input = x(0), previous = x(1)
                values[id] = previous + input.dropLast(width)
            case .layerNorm(let eps):
                values[id] = rowwise(x(0), width) { norm($0, eps) }.enumerated().map { $1 * x(1)[$0 % width] + x(2)[$0 % width] }
            case .groupNorm(let groups, let eps):
                values[id] = rowwise(x(0), width / groups) { norm($0, eps) }.enumerated().map { $1 * x(1)[$0 % width] + x(2)[$0 % width] }
            case .unary(let function): values[id] = x(0).map { apply(function, $0) }
            case .scale(let factor): values[id] = x(0).map { $0 * factor }
            case .l2NormalizeHeads(let n, let eps):
                values[id] = rowwise(x(0), n) { head in
                    let norm = sqrt(head.reduce(0) { $0 + $1 * $1 })
                    return head.map { $0 / max(norm, eps) }
                }
            case .headDotScale(let n):
                let a = x(0), b = x(1), c = x(2), v = x(3)
                var out = [Float](repeating: 0, count: a.count)
                for start in stride(from: 0, to: a.count, by: n) {
                    var s: Float = 0
                    for j in start..<(start + n) { s += a[j] * b[j] * c[j % c.count] }
                    for j in start..<(start + n) { out[j] = s * v[j] }
                }
                values[id] = out
            case .vectorTimesTokenMatrix(let rows, let columns):
                let u = x(0), m = x(1)
                var out = [Float](repeating: 0, count: columns * (u.count / rows))
                for t in 0..<(u.count / rows) {
                    for q in 0..<columns {
                        var sum: Float = 0
                        for p in 0..<rows { sum += u[t * rows + p] * m[t * rows * columns + p * columns + q] }
                        out[t * columns + q] = sum
                    }
                }
                values[id] = out
            case .getRows:
                let table = x(0), ids = x(1), c = width, rows = graph.shape(node.inputs[0])[1]
                values[id] = try ids.flatMap { raw -> ArraySlice<Float> in
                    let token = Int(raw)
                    guard token >= 0, token < rows else { throw ExecutionError("a token id is outside the embedding table") }
                    return table[(token * c)..<(token * c + c)]
                }
            case .rows(let start, let count):
                values[id] = Array(x(0)[(start * width)..<((start + count) * width)])
            case .wkv7(let n):
                guard case .slot(let s) = graph.nodes[node.inputs[6].id].op else { continue }
                values[id] = wkv7(r: x(0), w: x(1), k: x(2), v: x(3), a: x(4), b: x(5), state: &slotValues[s], n: n, c: width)
            case .store(let slot):
                slotValues[slot] = x(0)
            }
        }
        var result = Result(outputs: [:], states: [:])
        for output in graph.outputs { result.outputs[output.name] = values[output.value.id] }
        for (i, slot) in graph.slots.enumerated() where slot.isState { result.states[slot.name] = slotValues[i] }
        return result
    }

    static func matmul(_ graph: Graph, _ node: Graph.Node, activations: Graph.Value, floats: [Float], encoded: [UInt8]) throws -> [Float] {
        guard case .weight(var weight) = graph.nodes[node.inputs[0].id].op else {
            throw ExecutionError("reference matmul needs a weight tensor")
        }
        var encoded = encoded
        if weight.dtype.interleavedFrom != nil {
            // Interleaved rows: the plain rows against the same activations as Q8_0 blocks (f16 scale, quants).
            weight = try weight.deinterleavedRows()
            encoded = q8_0Blocks(fromQ8_0s: encoded)
        }
        let k = weight.shape[0], m = weight.shape[1], tokens = graph.shape(activations)[1]
        let traits = weight.dtype.traits
        var out = [Float](repeating: 0, count: m * tokens)
        weight.withUnsafeBytes { w in
            for t in 0..<tokens {
                for row in 0..<m {
                    let wRow = w.baseAddress! + row * weight.rowBytes
                    if traits.activationType == .f32 {
                        var decoded = [Float](repeating: 0, count: k)
                        decoded.withUnsafeMutableBufferPointer { traits.dequantizeRow!(wRow, $0.baseAddress!, k) }
                        var sum: Float = 0
                        for i in 0..<k { sum += decoded[i] * floats[t * k + i] }
                        out[t * m + row] = sum
                    } else {
                        let rowBytes = traits.activationType.rowBytes(k)
                        out[t * m + row] = encoded.withUnsafeBytes { traits.vecDot!(wRow, $0.baseAddress! + t * rowBytes, k) }
                    }
                }
            }
        }
        return out
    }

    /// Q8_0s blocks (f32 scale that is an f16 value, sum, quants) as Q8_0 blocks (f16 scale, quants).
    static func q8_0Blocks(fromQ8_0s bytes: [UInt8]) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count / 40 * 34)
        for block in stride(from: 0, to: bytes.count, by: 40) {
            let d = bytes.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: block, as: Float.self) }
            let h = HalfPrecision.f16Bits(d)
            out += [UInt8(h & 0xFF), UInt8(h >> 8)]
            out += bytes[(block + 8)..<(block + 40)]
        }
        return out
    }

    static func broadcast(_ a: [Float], _ b: [Float], _ width: Int, _ f: (Float, Float) -> Float) -> [Float] {
        a.indices.map { f(a[$0], b[$0 % b.count]) }
    }

    static func rowwise(_ x: [Float], _ n: Int, _ f: ([Float]) -> [Float]) -> [Float] {
        stride(from: 0, to: x.count, by: n).flatMap { f(Array(x[$0..<($0 + n)])) }
    }

    static func norm(_ u: [Float], _ eps: Float) -> [Float] {
        let mean = u.reduce(0, +) / Float(u.count)
        let variance = u.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / Float(u.count)
        return u.map { ($0 - mean) / sqrt(variance + eps) }
    }

    static func apply(_ f: UnaryFunction, _ v: Float) -> Float {
        switch f {
        case .sigmoid: 1 / (1 + Foundation.exp(-v))
        case .tanh: Foundation.tanh(v)
        case .exp: Foundation.exp(v)
        case .negate: -v
        case .softplus: Float(Foundation.log(1 + Foundation.exp(Double(v))))
        case .reluSquared: max(v, 0) * max(v, 0)
        }
    }

    /// Literal transcription of the recurrence (S[h][i][j], i = value row, j = key column).
    static func wkv7(r: [Float], w: [Float], k: [Float], v: [Float], a: [Float], b: [Float],
                     state: inout [Float], n: Int, c: Int) -> [Float] {
        var y = [Float](repeating: 0, count: r.count)
        for t in 0..<(r.count / c) {
            for h in 0..<(c / n) {
                let base = t * c + h * n
                for i in 0..<n {
                    let row = h * n * n + i * n
                    var sa: Float = 0
                    for j in 0..<n { sa += state[row + j] * a[base + j] }
                    for j in 0..<n {
                        state[row + j] = state[row + j] * w[base + j] + sa * b[base + j] + v[base + i] * k[base + j]
                    }
                    var sum: Float = 0
                    for j in 0..<n { sum += state[row + j] * r[base + j] }
                    y[base + i] = sum
                }
            }
        }
        return y
    }
}
