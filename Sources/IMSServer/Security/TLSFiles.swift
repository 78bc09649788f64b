import Foundation
import NIOSSL

/// HTTPS and WSS from a certificate chain and a private key in PEM files: read once at start; a
/// file that cannot be read or parsed stops `ims serve` with its name and why.
extension ServerConfiguration {
    /// Serves HTTPS and WSS with the certificate chain and key of these PEM files.
    public mutating func enableTLS(certificateFile: String, keyFile: String) throws(APIKeyError) {
        tls = try TLSFiles.configuration(certificateFile: certificateFile, keyFile: keyFile)
    }

    /// `https` with TLS, else `http`.
    public var scheme: String { tls == nil ? "http" : "https" }
}

public enum TLSFiles {
    /// The server's TLS configuration from PEM files; an error names the file at fault.
    public static func configuration(certificateFile: String, keyFile: String) throws(APIKeyError) -> TLSConfiguration {
        let chain: [NIOSSLCertificate]
        do { chain = try NIOSSLCertificate.fromPEMFile(certificateFile) } catch {
            throw APIKeyError("tlsCertificateFile \(certificateFile): not a readable PEM certificate chain (\(error))")
        }
        guard !chain.isEmpty else { throw APIKeyError("tlsCertificateFile \(certificateFile) holds no certificate") }
        let key: NIOSSLPrivateKey
        do { key = try NIOSSLPrivateKey(file: keyFile, format: .pem) } catch {
            throw APIKeyError("tlsKeyFile \(keyFile): not a readable PEM private key (\(error))")
        }
        var configuration = TLSConfiguration.makeServerConfiguration(certificateChain: chain.map { .certificate($0) }, privateKey: .privateKey(key))
        configuration.minimumTLSVersion = .tlsv12
        // TLS 1.2 with forward secrecy and AEAD only: no CBC, no SHA-1 MACs (TLS 1.3's suites are all AEAD).
        configuration.cipherSuiteValues = [
            .TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256, .TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
            .TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384, .TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
            .TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256, .TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
        ]
        // Made once now, so a key that does not match its certificate stops the start, not the first connection.
        do { _ = try NIOSSLContext(configuration: configuration) } catch {
            throw APIKeyError("tlsCertificateFile and tlsKeyFile do not make a TLS context (does the key match the certificate?): \(error)")
        }
        return configuration
    }
}
