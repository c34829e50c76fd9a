// Owning handles for OpenSSL objects: std::unique_ptr with the matching *_free function, in one place.
#pragma once

#include <memory>

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/crypto.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <openssl/param_build.h>

namespace rampart::crypto {

template <auto FreeFunction>
struct OpensslDeleter {
    template <class T>
    void operator()(T* object) const {
        FreeFunction(object);
    }
};

using BioFree = OpensslDeleter<BIO_free>;
using BnFree = OpensslDeleter<BN_free>;
using EcdsaSigFree = OpensslDeleter<ECDSA_SIG_free>;
using MdCtxFree = OpensslDeleter<EVP_MD_CTX_free>;
using PkeyCtxFree = OpensslDeleter<EVP_PKEY_CTX_free>;
using KdfFree = OpensslDeleter<EVP_KDF_free>;
using KdfCtxFree = OpensslDeleter<EVP_KDF_CTX_free>;
using ParamBldFree = OpensslDeleter<OSSL_PARAM_BLD_free>;
using ParamFree = OpensslDeleter<OSSL_PARAM_free>;

// OPENSSL_free is a macro (it records the caller's file and line), so it cannot be a template argument.
struct OpensslFree {
    void operator()(void* memory) const { OPENSSL_free(memory); }
};

}  // namespace rampart::crypto
