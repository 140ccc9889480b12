// evolink-cpp. Distributed under the Boost Software License, Version 1.0.
#ifndef EVOLINK_TESTING_CERTIFICATES_HPP
#define EVOLINK_TESTING_CERTIFICATES_HPP

/// Throw-away certificates for tests: a CA and a server certificate it
/// signed, made in memory with OpenSSL (EC P-256, valid for 30 days).

#include <evolink/detail/config.hpp>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

namespace evolink::testing {

struct test_certificates {
    std::string ca_pem;   ///< the CA certificate: what a client must trust
    std::string cert_pem; ///< the server certificate, signed by the CA
    std::string key_pem;  ///< the server's private key

    /// A fresh CA and a server certificate for `names` (DNS names and IP
    /// addresses, as subject alternative names). Throws std::runtime_error
    /// when OpenSSL fails.
    static test_certificates generate(const std::vector<std::string>& names = {"localhost", "127.0.0.1", "::1"},
                                      const std::string& ca_name = "evolink-cpp test CA");
};

namespace detail {

struct openssl_free {
    void operator()(EVP_PKEY* p) const { EVP_PKEY_free(p); }
    void operator()(X509* p) const { X509_free(p); }
    void operator()(BIO* p) const { BIO_free(p); }
};
template <class T>
using ossl_ptr = std::unique_ptr<T, openssl_free>;

EVOLINK_INLINE void ossl_check(bool ok, const char* what)
{
    if (!ok) throw std::runtime_error(std::string("test certificate generation failed: ") + what);
}

EVOLINK_INLINE std::string bio_text(BIO* bio)
{
    char* data = nullptr;
    long n = BIO_get_mem_data(bio, &data);
    return std::string(data, static_cast<std::size_t>(n));
}

EVOLINK_INLINE void add_ext(X509* cert, X509* issuer, int nid, const std::string& value)
{
    X509V3_CTX ctx;
    X509V3_set_ctx_nodb(&ctx);
    X509V3_set_ctx(&ctx, issuer, cert, nullptr, nullptr, 0);
    X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value.c_str());
    ossl_check(ext != nullptr, "extension");
    X509_add_ext(cert, ext, -1);
    X509_EXTENSION_free(ext);
}

EVOLINK_INLINE ossl_ptr<X509> make_cert(EVP_PKEY* key, const std::string& cn, X509* issuer)
{
    ossl_ptr<X509> cert(X509_new());
    ossl_check(cert != nullptr, "X509_new");
    X509_set_version(cert.get(), 2);
    unsigned char serial[8];
    RAND_bytes(serial, sizeof serial);
    long s = 0;
    for (auto b : serial) s = (s << 8) | b;
    ASN1_INTEGER_set(X509_get_serialNumber(cert.get()), s < 0 ? -s : s);
    X509_gmtime_adj(X509_getm_notBefore(cert.get()), -3600);
    X509_gmtime_adj(X509_getm_notAfter(cert.get()), 30L * 24 * 3600);
    X509_set_pubkey(cert.get(), key);
    X509_NAME* name = X509_get_subject_name(cert.get());
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8, reinterpret_cast<const unsigned char*>(cn.c_str()), -1, -1, 0);
    X509_set_issuer_name(cert.get(), issuer ? X509_get_subject_name(issuer) : name);
    return cert;
}

} // namespace detail

EVOLINK_INLINE test_certificates test_certificates::generate(const std::vector<std::string>& names,
                                                             const std::string& ca_name)
{
    using namespace detail;
    ossl_ptr<EVP_PKEY> ca_key(EVP_EC_gen("P-256"));
    ossl_ptr<EVP_PKEY> key(EVP_EC_gen("P-256"));
    ossl_check(ca_key && key, "key generation");

    auto ca = make_cert(ca_key.get(), ca_name, nullptr);
    add_ext(ca.get(), ca.get(), NID_basic_constraints, "critical,CA:TRUE");
    add_ext(ca.get(), ca.get(), NID_key_usage, "critical,keyCertSign,cRLSign");
    add_ext(ca.get(), ca.get(), NID_subject_key_identifier, "hash");
    ossl_check(X509_sign(ca.get(), ca_key.get(), EVP_sha256()) > 0, "signing the CA");

    std::string san;
    for (auto& n : names) {
        bool ip = n.find_first_not_of("0123456789.") == std::string::npos || n.find(':') != std::string::npos;
        san += (san.empty() ? "" : ",") + std::string(ip ? "IP:" : "DNS:") + n;
    }
    auto leaf = make_cert(key.get(), names.empty() ? "server" : names.front(), ca.get());
    add_ext(leaf.get(), ca.get(), NID_basic_constraints, "CA:FALSE");
    add_ext(leaf.get(), ca.get(), NID_key_usage, "critical,digitalSignature,keyEncipherment");
    add_ext(leaf.get(), ca.get(), NID_ext_key_usage, "serverAuth");
    if (!san.empty()) add_ext(leaf.get(), ca.get(), NID_subject_alt_name, san);
    add_ext(leaf.get(), ca.get(), NID_authority_key_identifier, "keyid:always");
    ossl_check(X509_sign(leaf.get(), ca_key.get(), EVP_sha256()) > 0, "signing the server certificate");

    test_certificates out;
    ossl_ptr<BIO> b1(BIO_new(BIO_s_mem())), b2(BIO_new(BIO_s_mem())), b3(BIO_new(BIO_s_mem()));
    ossl_check(PEM_write_bio_X509(b1.get(), ca.get()) == 1, "PEM (CA)");
    ossl_check(PEM_write_bio_X509(b2.get(), leaf.get()) == 1, "PEM (certificate)");
    ossl_check(PEM_write_bio_PrivateKey(b3.get(), key.get(), nullptr, nullptr, 0, nullptr, nullptr) == 1, "PEM (key)");
    out.ca_pem = bio_text(b1.get());
    out.cert_pem = bio_text(b2.get());
    out.key_pem = bio_text(b3.get());
    return out;
}

} // namespace evolink::testing

#endif
