#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A whole file mapped read-only into memory. Tensors that view it keep it alive.
public final class MappedFile: @unchecked Sendable {
    /// The path it was opened from.
    public let path: String
    /// Start of the mapping (nil for an empty file).
    public let base: UnsafeRawPointer?
    /// Length of the file in bytes.
    public let byteCount: Int

    /// Errors opening or mapping a file.
    public struct OpenError: Error, CustomStringConvertible {
        public let description: String
    }

    /// Maps `path` read-only.
    public init(path: String) throws {
        self.path = path
        let fd = open(path, O_RDONLY)
        guard fd >= 0 else { throw OpenError(description: "\(path): cannot open: \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0 else { throw OpenError(description: "\(path): cannot stat: \(String(cString: strerror(errno)))") }
        guard (info.st_mode & S_IFMT) == S_IFREG else { throw OpenError(description: "\(path): not a regular file") }
        byteCount = Int(info.st_size)
        if byteCount == 0 {
            base = nil
            return
        }
        let mapped = mmap(nil, byteCount, PROT_READ, MAP_PRIVATE, fd, 0)
        guard let mapped, mapped != MAP_FAILED else {
            throw OpenError(description: "\(path): cannot map: \(String(cString: strerror(errno)))")
        }
        base = UnsafeRawPointer(mapped)
    }

    /// A private read-only copy of `bytes` in memory, named `path` in messages: what the readers see of a
    /// file, without a file (fuzzing, tests).
    public init(copying bytes: UnsafeRawBufferPointer, path: String) {
        self.path = path
        byteCount = bytes.count
        guard bytes.count > 0 else {
            base = nil
            return
        }
        let mapped = mmap(nil, bytes.count, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0)
        precondition(mapped != MAP_FAILED, "cannot map \(bytes.count) bytes")
        mapped!.copyMemory(from: bytes.baseAddress!, byteCount: bytes.count)
        mprotect(mapped, bytes.count, PROT_READ)
        base = UnsafeRawPointer(mapped)
    }

    deinit {
        if let base { munmap(UnsafeMutableRawPointer(mutating: base), byteCount) }
    }

    /// The file's bytes; valid while `self` is alive.
    public var bytes: UnsafeRawBufferPointer { UnsafeRawBufferPointer(start: base, count: byteCount) }
}
