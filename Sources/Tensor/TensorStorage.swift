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
    /// Whether the bytes are an anonymous mapping of their own (large buffers), unmapped on release.
    private let isMapped: Bool

    /// Sizes from which owned storage is mapped directly: the pages come zeroed (and only when touched),
    /// and go back to the system when the storage is released, which malloc does not promise.
    static let mappedThreshold = 1 << 20

    /// Allocates `byteCount` zeroed bytes, 64-byte aligned.
    public init(zeroedByteCount byteCount: Int) {
        let size = max(byteCount, 1)
        if size >= Self.mappedThreshold,
           let pages = mmap(nil, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0), pages != MAP_FAILED {
            base = pages
            isMapped = true
        } else {
            base = UnsafeMutableRawPointer.allocate(byteCount: size, alignment: Self.alignment)
            base.initializeMemory(as: UInt8.self, repeating: 0, count: size)
            isMapped = false
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
        isMapped = false
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

    deinit {
        if isMapped {
            munmap(base, max(byteCount, 1))
        } else if file == nil {
            base.deallocate()
        }
    }
}
