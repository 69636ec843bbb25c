import CKernels

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// An instruction-set level of the C kernel layer. Every level is compiled into the binary; the best one the
/// CPU supports is used unless `RWKV_ISA` names another (`scalar`, `avx2`, `avx512`, `avx512vnni`).
/// Results are bit-identical across levels: the kernels do the same arithmetic in the same order at each.
public enum KernelLevel: Int, CaseIterable, Sendable, Comparable {
    case scalar, avx2, avx512, avx512vnni

    /// The kernel functions of this level (nil where this build has no code for it, e.g. AVX2 on arm64).
    public var kernels: Kernels? {
        rwkv_kernels_for(rwkv_isa(rawValue: UInt32(rawValue))).map(Kernels.init)
    }

    /// The best level this CPU and OS support.
    public static let detected = KernelLevel(rawValue: Int(rwkv_isa_detect().rawValue)) ?? .scalar

    /// Every level this machine can run, lowest first.
    public static var supported: [KernelLevel] { allCases.filter { $0 <= detected && $0.kernels != nil } }

    /// The level in use: `RWKV_ISA` when it names a supported level, else the detected one. An unknown or
    /// unsupported `RWKV_ISA` is reported by ``environmentProblem``.
    public static let current: KernelLevel = {
        guard let requested = requestedByEnvironment, supported.contains(requested) else { return detected }
        return requested
    }()

    /// Why `RWKV_ISA` was not honoured, if it was set and could not be.
    public static var environmentProblem: String? {
        guard let raw = getenv("RWKV_ISA").map({ String(cString: $0) }), !raw.isEmpty else { return nil }
        guard let requested = requestedByEnvironment else {
            return "RWKV_ISA=\(raw) is not a level (scalar, avx2, avx512, avx512vnni); using \(detected)"
        }
        return supported.contains(requested) ? nil : "RWKV_ISA=\(raw) is not supported by this CPU (best: \(detected)); using \(detected)"
    }

    private static var requestedByEnvironment: KernelLevel? {
        guard let raw = getenv("RWKV_ISA").map({ String(cString: $0).lowercased() }) else { return nil }
        return allCases.first { "\($0)" == raw }
    }

    public static func < (a: KernelLevel, b: KernelLevel) -> Bool { a.rawValue < b.rawValue }
}

/// One level's table of C kernels: what op and dtype tables point into.
public struct Kernels: @unchecked Sendable {
    let table: rwkv_kernels

    init(_ pointer: UnsafePointer<rwkv_kernels>) { table = pointer.pointee }

    /// The kernels of ``KernelLevel/current``.
    public static let current = KernelLevel.current.kernels!

    /// A function of the table.
    public subscript<F>(_ path: KeyPath<rwkv_kernels, F?>) -> F? { table[keyPath: path] }
}
