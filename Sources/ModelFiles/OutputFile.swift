#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A file written under a temporary name in the destination's folder (`PATH.partial-PID`) and renamed into
/// place only by ``commit()``, after an fsync; if it is dropped uncommitted (an error, a thrown conversion, a
/// full disk) the partial file is removed. A process killed midway leaves the old file untouched (and its
/// `.partial-PID` behind). Every file the project writes goes through one.
public final class OutputFile {
    public let path: String
    private let temporaryPath: String
    private var handle: UnsafeMutablePointer<FILE>?
    private(set) var written = 0

    public init(path: String) throws {
        self.path = path
        temporaryPath = path + ".partial-\(getpid())"
        guard let handle = fopen(temporaryPath, "wb") else {
            throw ModelFileError(path, "cannot create: \(String(cString: strerror(errno)))")
        }
        self.handle = handle
    }

    deinit {
        if let handle {
            fclose(handle)
            unlink(temporaryPath)
        }
    }

    public func write(_ bytes: UnsafeRawBufferPointer) throws {
        guard let handle, bytes.count > 0 else { return }
        guard fwrite(bytes.baseAddress, 1, bytes.count, handle) == bytes.count else {
            throw ModelFileError(path, "write failed: \(String(cString: strerror(errno)))")
        }
        written += bytes.count
    }

    public func write(_ bytes: [UInt8]) throws { try bytes.withUnsafeBytes { try write($0) } }

    func writeZeros(_ count: Int) throws {
        if count > 0 { try write([UInt8](repeating: 0, count: count)) }
    }

    /// Flushes, closes and renames the file into place.
    public func commit() throws {
        guard let handle else { return }
        self.handle = nil
        let flushed = fflush(handle) == 0 && fsync(fileno(handle)) == 0
        let closed = fclose(handle) == 0
        guard flushed, closed, rename(temporaryPath, path) == 0 else {
            let reason = String(cString: strerror(errno))
            unlink(temporaryPath)
            throw ModelFileError(path, "cannot finish writing: \(reason)")
        }
    }
}
