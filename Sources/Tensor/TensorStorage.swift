#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The memory behind one or more tensors: owned 64-byte-aligned memory, or a read-only range of a
/// ``MappedFile`` that this storage keeps alive. A tensor holds its storage strongly, so a view can never
/// outlive the bytes it points at.
public final class TensorStorage: @unchecked Sendable {
    /// Alignment of owned storage (a cache line; enough for any SIMD load).
    public static let alignment = 64

    /// First byte.
    public let base: UnsafeMutableRawPointer
    /// Size in bytes.
    public let byteCount: Int
    /// False for file-backed storage.
    public let isWritable: Bool
    private let file: MappedFile?
    /// The anonymous mapping behind large owned buffers (unmapped on release); nil otherwise.
    private let mapping: (start: UnsafeMutableRawPointer, length: Int)?

    /// Sizes from which owned storage is mapped directly: the pages come zeroed (and only when touched),
    /// and go back to the system when the storage is released, which malloc does not promise.
    static let mappedThreshold = 1 << 20

    /// The huge-page size a mapping that asks for huge pages is aligned to.
    static let hugePageSize = 2 << 20

    /// Allocates `byteCount` zeroed bytes, 64-byte aligned. With `hugePages`, a buffer from 2 MiB starts on a
    /// 2 MiB boundary and is advised to use transparent huge pages where the kernel allows it (streaming reads
    /// through 2 MiB pages skip most page walks: +5–10 % read bandwidth on Zen 4); for weights that are read
    /// whole, since the resident size then grows in 2 MiB steps.
    public init(zeroedByteCount byteCount: Int, hugePages: Bool = false) {
        let size = max(byteCount, 1)
        if size >= Self.mappedThreshold, let mapping = Self.mapAnonymous(size, hugePages: hugePages && size >= Self.hugePageSize) {
            base = mapping.base
            self.mapping = (mapping.start, mapping.length)
        } else {
            base = UnsafeMutableRawPointer.allocate(byteCount: size, alignment: Self.alignment)
            base.initializeMemory(as: UInt8.self, repeating: 0, count: size)
            mapping = nil
        }
        self.byteCount = byteCount
        isWritable = true
        file = nil
    }

    /// A read-only view of `range` of `file`; the range must lie inside the file.
    public init(file: MappedFile, range: Range<Int>) {
        precondition(range.lowerBound >= 0 && range.upperBound <= file.byteCount, "range outside the mapped file")
        let start = file.base.map { $0 + range.lowerBound } ?? UnsafeRawPointer(bitPattern: Self.alignment)!
        base = UnsafeMutableRawPointer(mutating: start)
        byteCount = range.count
        isWritable = false
        mapping = nil
        self.file = file
    }

    /// For file-backed storage: drops the resident pages that lie wholly inside `range` (bytes from `base`),
    /// so memory the process no longer reads stops counting in its resident set; a later read faults them
    /// back in from the file. Owned storage is left alone.
    public func releaseResidentPages(_ range: Range<Int>) {
        guard file != nil else { return }
        let page = Int(sysconf(Int32(_SC_PAGESIZE)))
        let start = (Int(bitPattern: base) + range.lowerBound + page - 1) / page * page
        let end = (Int(bitPattern: base) + range.upperBound) / page * page
        if end > start { _ = madvise(UnsafeMutableRawPointer(bitPattern: start), end - start, MADV_DONTNEED) }
    }

    /// A zeroed anonymous mapping of at least `size` bytes; with `huge`, starting on a huge-page boundary and
    /// advised to use huge pages.
    private static func mapAnonymous(_ size: Int, hugePages huge: Bool) -> (base: UnsafeMutableRawPointer, start: UnsafeMutableRawPointer, length: Int)? {
        let length = huge ? (size + hugePageSize - 1) / hugePageSize * hugePageSize + hugePageSize : size
        guard let start = mmap(nil, length, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0), start != MAP_FAILED else {
            return nil
        }
        guard huge else { return (start, start, length) }
        let aligned = (Int(bitPattern: start) + hugePageSize - 1) / hugePageSize * hugePageSize
        let base = UnsafeMutableRawPointer(bitPattern: aligned)!
        #if os(Linux)
        _ = madvise(base, length - hugePageSize, MADV_HUGEPAGE)
        #endif
        return (base, start, length)
    }

    deinit {
        if let mapping {
            munmap(mapping.start, mapping.length)
        } else if file == nil {
            base.deallocate()
        }
    }
}
