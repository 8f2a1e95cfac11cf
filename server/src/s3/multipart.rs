//! Multipart uploads: create, upload parts (and copies of them), complete, abort, list.

use super::*;

impl Cairn {
    pub(super) async fn upload_part_copy(
        &self,
        req: S3Request<UploadPartCopyInput>,
    ) -> S3Result<S3Response<UploadPartCopyOutput>> {
        let source_key_given = self.copy_source_key(&req.headers)?;
        let customer = self.customer_key(&req.headers)?;
        let input = req.input;
        let upload = upload_param(&input.upload_id)?;
        let number = u32::try_from(input.part_number)
            .map_err(|_| s3_error!(InvalidArgument, "Part number must be an integer between 1 and 10000, inclusive"))?;
        let conditions = Conditions {
            if_match: input.copy_source_if_match.as_ref(),
            if_none_match: input.copy_source_if_none_match.as_ref(),
            if_modified_since: input.copy_source_if_modified_since.as_ref(),
            if_unmodified_since: input.copy_source_if_unmodified_since.as_ref(),
        };
        let (source_bucket, source_key, found, info) = self.copy_source(
            origin!(req),
            &input.copy_source,
            input.expected_source_bucket_owner.as_deref(),
            &conditions,
        )?;
        let range = match &input.copy_source_range {
            None => None,
            Some(text) => Some(copy_source_range(text, info.size)?),
        };
        encryption::check_key(info.attributes.encryption.as_ref(), source_key_given.as_ref())?;
        let copied = range.map_or(info.size, |(first, last)| last - first + 1);
        if copied > cairn_engine::limits::PART_BYTES_MAX {
            return Err(s3_error!(EntityTooLarge, "a part is at most {} bytes", cairn_engine::limits::PART_BYTES_MAX));
        }
        let source_versioned = self.versioned(&source_bucket)?;
        let (bucket, key, source_id) = (input.bucket, input.key, found.id);
        let customer_bytes = customer.as_ref().map(|c| c.key.clone());
        let (md5, stored, sealed) = self
            .blocking_s3(move |engine| {
                let range = range.map(|(first, last)| ByteRange::From { first, last: Some(last) });
                // The source opened with its keys; the part sealed with the upload's.
                let (version, source) =
                    engine.head_object(&source_bucket, &source_key, Some(source_id)).map_err(to_s3)?;
                let source_customer = source_key_given.as_ref().map(|c| &*c.key);
                let reader = engine
                    .read_version(&source_bucket, &source_key, version, source, range, source_customer)
                    .map_err(to_s3)?;
                let mut writer = engine
                    .upload_part_with_key(&bucket, &key, upload, number, customer_bytes.as_deref())
                    .map_err(to_s3)?;
                let sealed = writer.encryption().cloned();
                encryption::check_key(sealed.as_ref(), customer.as_ref())?;
                let spec = writer.checksum_spec();
                let algorithm = spec.map_or(checksum::DEFAULT_ALGORITHM, |s| s.algorithm);
                let mut hasher = checksum::Hasher::new(algorithm);
                for chunk in reader {
                    let chunk = chunk.map_err(to_s3)?;
                    hasher.update(&chunk);
                    writer.write(&chunk).map_err(to_s3)?;
                }
                let stored = checksum::full_object(algorithm, hasher);
                writer.set_checksum(stored.clone());
                Ok((writer.finish().map_err(to_s3)?, spec.map(|_| stored), (sealed, customer)))
            })
            .await?;
        let sums = Fields::of(stored.as_ref(), None);
        let mut response = S3Response::new(UploadPartCopyOutput {
            copy_part_result: Some(with_checksums!(sums => CopyPartResult {
                e_tag: Some(ETag::Strong(cairn_engine::hex(&md5))),
                last_modified: Some(Timestamp::from(std::time::SystemTime::now())),
            })),
            copy_source_version_id: source_versioned.then(|| found.id.to_string()),
            ..Default::default()
        });
        self.encryption_headers(&mut response.headers, sealed.0.as_ref(), sealed.1.as_ref(), false);
        Ok(response)
    }

    pub(super) async fn create_multipart_upload(
        &self,
        req: S3Request<CreateMultipartUploadInput>,
    ) -> S3Result<S3Response<CreateMultipartUploadOutput>> {
        let written = self.written_acl(&req.headers, req.credentials.as_ref(), &req.input.bucket)?;
        let storage_class = encryption::storage_class(&req.headers)?;
        let (sse, customer) = self.write_encryption(&req.headers, &req.input.bucket, &req.input.key)?;
        let input = req.input;
        let lock = self.write_lock(&input.bucket, lock_headers!(input))?;
        let mut attributes = request_attributes!(input, input.tagging).into_engine()?;
        (attributes.owner, attributes.acl) = (written.owner, written.acl);
        attributes.storage_class = storage_class;
        attributes.lock = lock;
        let spec = checksum::upload_spec(input.checksum_algorithm.as_ref(), input.checksum_type.as_ref())?;
        let (bucket, key) = (input.bucket.clone(), input.key.clone());
        let (upload, sealed) = self
            .blocking(move |engine| {
                let upload = engine.create_upload_with(&bucket, &key, attributes, spec, sse.as_ref())?;
                Ok((upload, engine.upload_encryption(&bucket, &key, upload)?))
            })
            .await?;
        let mut response = S3Response::new(CreateMultipartUploadOutput {
            bucket: Some(input.bucket),
            key: Some(input.key),
            upload_id: Some(upload.to_string()),
            checksum_algorithm: spec.map(|s| checksum::to_dto(s.algorithm)),
            checksum_type: spec.map(|s| checksum::kind_to_dto(s.kind)),
            ..Default::default()
        });
        self.encryption_headers(&mut response.headers, sealed.as_ref(), customer.as_ref(), true);
        Ok(response)
    }

    pub(super) async fn upload_part(&self, req: S3Request<UploadPartInput>) -> S3Result<S3Response<UploadPartOutput>> {
        let S3Request { input, headers, trailing_headers, extensions, .. } = req;
        let customer = self.customer_key(&headers)?;
        let upload = upload_param(&input.upload_id)?;
        let number = u32::try_from(input.part_number)
            .map_err(|_| s3_error!(InvalidArgument, "Part number must be an integer between 1 and 10000, inclusive"))?;
        let claim = checksum::claim(&headers)?;
        let key = customer.as_ref().map(|c| &*c.key);
        let mut writer =
            self.engine.upload_part_with_key(&input.bucket, &input.key, upload, number, key).map_err(to_s3)?;
        encryption::check_key(writer.encryption(), customer.as_ref())?;
        let sealed = writer.encryption().cloned();
        let algorithm = checksum::part_algorithm(writer.checksum_spec(), claim.as_ref())?;
        let mut sums = BodyChecksums::new(claim, algorithm);
        let content_length = input.content_length.filter(|_| extensions.get::<LengthUnknown>().is_none());
        receive_body(input.body, content_length, &mut writer, &mut sums).await?;
        if let Some(content_md5) = writes::content_md5(input.content_md5.as_deref(), &headers) {
            writes::check_content_md5(content_md5, &writer.md5())?;
        }
        let (stored, claimed) = sums.finish(trailing_headers.and_then(|t| t.take()).as_ref())?;
        // The part's checksum as the client sees it: the upload's algorithm, or what the part
        // claimed. Without either, the stored default CRC64NVME is not shown.
        let shown = if writer.checksum_spec().is_some() { Some(stored.clone()) } else { claimed };
        let fields = Fields::of(shown.as_ref(), None);
        writer.set_checksum(stored);
        let md5 = writer.finish_async().await.map_err(to_s3)?;
        let mut response = S3Response::new(with_checksums!(fields => UploadPartOutput {
            e_tag: Some(ETag::Strong(cairn_engine::hex(&md5))),
            ..Default::default()
        }));
        self.encryption_headers(&mut response.headers, sealed.as_ref(), customer.as_ref(), false);
        Ok(response)
    }

    pub(super) async fn complete_multipart_upload(
        &self,
        req: S3Request<CompleteMultipartUploadInput>,
    ) -> S3Result<S3Response<CompleteMultipartUploadOutput>> {
        let location = writes::object_url(&req.headers, &req.input.bucket, &req.input.key);
        let publishing = self.publishing(&req, &req.input.bucket)?;
        let replica = replication::replica_of(&req.headers)?;
        let input = req.input;
        let upload = upload_param(&input.upload_id)?;
        let listed = input.multipart_upload.and_then(|m| m.parts).unwrap_or_default();
        if listed.is_empty() {
            return Err(s3_error!(
                MalformedXML,
                "The XML you provided was not well-formed or did not validate against our published schema"
            ));
        }
        let mut parts = Vec::with_capacity(listed.len());
        let mut part_checksums = std::collections::HashMap::new();
        for part in listed {
            let number = part.part_number.and_then(|n| u32::try_from(n).ok()).ok_or_else(|| s3_error!(InvalidPart))?;
            let etag_md5 = part.e_tag.as_ref().and_then(etag_md5).ok_or(s3_error!(InvalidPart))?;
            parts.push(cairn_engine::CompletedPart { number, etag_md5 });
            let sums: Vec<_> = checksum::listed(&part).into_iter().map(|(a, v)| (a, v.to_owned())).collect();
            part_checksums.insert(number, sums);
        }
        let condition = writes::write_condition(
            &self.engine,
            &input.bucket,
            &input.key,
            input.if_match.as_ref(),
            input.if_none_match.as_ref(),
        )?;
        let (bucket, key) = (input.bucket.clone(), input.key.clone());
        let notice = self.notice(&publishing, &bucket, &key, EventName::CompleteMultipartUpload);
        let noticed = notice.is_some();
        // An upload not found is answered by the engine (a completion sent again, or 404).
        let mut extras = match (replica, self.engine.upload_attributes(&bucket, &key, upload)) {
            // A replica another server sends is not replicated again (S3 never chains).
            (Some(replica), _) => cairn_engine::WriteExtras { replica: Some(replica), ..Default::default() },
            (None, Ok(attributes)) => self.replication_extras(&bucket, &key, &attributes)?,
            (None, Err(_)) => cairn_engine::WriteExtras::default(),
        };
        let replicated = !extras.notices.is_empty();
        extras.notices.extend(notice);
        let outcome = self
            .blocking_s3(move |engine| {
                // The object's checksum is computed from exactly the parts the engine chose.
                let mut refused = None;
                let outcome = engine.complete_upload_with(
                    &bucket,
                    &key,
                    upload,
                    &parts,
                    condition.condition,
                    extras,
                    |chosen, spec| {
                        checksum::combine(chosen, spec, &part_checksums).map_err(|error| {
                            refused = Some(error);
                            cairn_engine::Error::InvalidArgument("checksum refused".into())
                        })
                    },
                );
                match (outcome, refused) {
                    (_, Some(error)) => Err(error),
                    (outcome, None) if replica.is_some() => outcome.map_err(replication::replica_refusal),
                    (outcome, None) => outcome.map_err(|error| condition.refusal(error)),
                }
            })
            .await?;
        if noticed {
            self.notifications.wake();
        }
        if replicated {
            self.replication.wake();
        }
        let fields = Fields::of(outcome.checksum.as_ref(), outcome.parts);
        let versioned = self.versioned(&input.bucket)?;
        let sealed = match self.engine.head_object(&input.bucket, &input.key, Some(outcome.version)) {
            Ok((_, info)) => info.attributes.encryption.clone(),
            // Overwritten or deleted since: nothing to report of it.
            Err(_) => None,
        };
        let expiration = self.written_expiration(&input.bucket, &input.key, outcome.version);
        let mut response = S3Response::new(with_checksums!(fields => CompleteMultipartUploadOutput {
            expiration,
            location: Some(location),
            bucket: Some(input.bucket),
            key: Some(input.key),
            e_tag: Some(ETag::Strong(outcome.etag.trim_matches('"').to_owned())),
            version_id: version_header(outcome.version, versioned),
            checksum_type: fields.kind,
            ..Default::default()
        }));
        self.encryption_headers(&mut response.headers, sealed.as_ref(), None, false);
        Ok(response)
    }

    pub(super) async fn abort_multipart_upload(
        &self,
        req: S3Request<AbortMultipartUploadInput>,
    ) -> S3Result<S3Response<AbortMultipartUploadOutput>> {
        let input = req.input;
        let upload = upload_param(&input.upload_id)?;
        let (bucket, key) = (input.bucket, input.key);
        self.blocking(move |engine| engine.abort_upload(&bucket, &key, upload)).await?;
        Ok(S3Response::new(AbortMultipartUploadOutput::default()))
    }

    pub(super) async fn list_parts(&self, req: S3Request<ListPartsInput>) -> S3Result<S3Response<ListPartsOutput>> {
        let input = req.input;
        let owner = self.bucket_owner(&input.bucket)?;
        let upload = upload_param(&input.upload_id)?;
        let marker = input.part_number_marker.unwrap_or(0).max(0) as u32;
        let max_parts = input.max_parts.unwrap_or(1000).max(0);
        let page =
            self.engine.list_parts(&input.bucket, &input.key, upload, marker, max_parts as usize).map_err(to_s3)?;
        let spec = page.checksum;
        let next_part_number_marker = page.parts.last().map(|p| p.number as i32);
        let parts = page
            .parts
            .iter()
            .map(|p| {
                // Parts of uploads without a checksum algorithm show none (their CRC64NVME is
                // only for the object's default checksum).
                let sums = Fields::of(p.checksum.as_ref().filter(|_| spec.is_some()), None);
                with_checksums!(sums => Part {
                    part_number: Some(p.number as i32),
                    size: Some(p.size as i64),
                    e_tag: Some(ETag::Strong(cairn_engine::hex(&p.md5))),
                    last_modified: Some(timestamp(p.last_modified_ms)),
                })
            })
            .collect();
        Ok(S3Response::new(ListPartsOutput {
            bucket: Some(input.bucket),
            key: Some(input.key),
            upload_id: Some(input.upload_id),
            part_number_marker: input.part_number_marker,
            next_part_number_marker,
            max_parts: Some(max_parts),
            is_truncated: Some(page.is_truncated),
            parts: Some(parts),
            owner: Some(owner.clone()),
            initiator: Some(Initiator { display_name: owner.display_name.clone(), id: owner.id.clone() }),
            storage_class: Some(encryption::listed_storage_class(page.storage_class)),
            checksum_algorithm: spec.map(|s| checksum::to_dto(s.algorithm)),
            checksum_type: spec.map(|s| checksum::kind_to_dto(s.kind)),
            ..Default::default()
        }))
    }

    pub(super) async fn list_multipart_uploads(
        &self,
        req: S3Request<ListMultipartUploadsInput>,
    ) -> S3Result<S3Response<ListMultipartUploadsOutput>> {
        let mut input = req.input;
        input.delimiter = input.delimiter.filter(|d| !d.is_empty());
        let url = url_encoding(input.encoding_type.as_ref())?;
        let owner = self.bucket_owner(&input.bucket)?;
        let max_uploads = input.max_uploads.unwrap_or(1000).max(0);
        let upload_marker = match input.upload_id_marker.as_deref().filter(|m| !m.is_empty()) {
            None => None,
            Some(marker) => Some(upload_param(marker)?),
        };
        let query = cairn_engine::UploadQuery {
            prefix: input.prefix.clone().unwrap_or_default(),
            delimiter: input.delimiter.clone(),
            key_marker: input.key_marker.clone(),
            upload_marker,
            max_uploads: max_uploads as usize,
        };
        let page = self.engine.list_uploads(&input.bucket, &query).map_err(to_s3)?;
        let (mut uploads, mut common_prefixes) = (Vec::new(), Vec::new());
        let mut next = (None, None);
        for item in &page.items {
            match item {
                ListItem::Entry(upload) => {
                    uploads.push(MultipartUpload {
                        key: Some(listed_name(&upload.key, url)),
                        upload_id: Some(upload.upload.to_string()),
                        initiated: Some(timestamp(upload.initiated_ms)),
                        owner: Some(owner.clone()),
                        initiator: Some(Initiator { display_name: owner.display_name.clone(), id: owner.id.clone() }),
                        storage_class: Some(encryption::listed_storage_class(upload.attributes.storage_class)),
                        checksum_algorithm: upload.checksum.map(|s| checksum::to_dto(s.algorithm)),
                        checksum_type: upload.checksum.map(|s| checksum::kind_to_dto(s.kind)),
                    });
                    next = (Some(upload.key.clone()), Some(upload.upload.to_string()));
                }
                ListItem::CommonPrefix(prefix) => {
                    common_prefixes.push(CommonPrefix { prefix: Some(listed_name(prefix, url)) });
                    next = (Some(prefix.clone()), None);
                }
            }
        }
        let encode = |name: Option<String>| name.map(|n| listed_name(&n, url));
        let (next_key_marker, next_upload_id_marker) = if page.is_truncated { next } else { (None, None) };
        Ok(S3Response::new(ListMultipartUploadsOutput {
            bucket: Some(input.bucket),
            prefix: encode(input.prefix),
            delimiter: encode(input.delimiter),
            key_marker: encode(input.key_marker),
            upload_id_marker: input.upload_id_marker,
            max_uploads: Some(max_uploads),
            is_truncated: Some(page.is_truncated),
            next_key_marker: encode(next_key_marker),
            next_upload_id_marker,
            encoding_type: input.encoding_type,
            uploads: Some(uploads),
            common_prefixes: Some(common_prefixes),
            ..Default::default()
        }))
    }
}

/// `x-amz-copy-source-range: bytes=first-last` (both required, inclusive, within the source).
/// A malformed range is InvalidArgument; one that reaches past the source, InvalidRange (416).
pub(crate) fn copy_source_range(text: &str, size: u64) -> S3Result<(u64, u64)> {
    let invalid = || {
        s3_error!(
            InvalidArgument,
            "The x-amz-copy-source-range value must be of the form bytes=first-last where first and last are the zero-based offsets of the first and last bytes to copy"
        )
    };
    let (first, last) = text.strip_prefix("bytes=").and_then(|r| r.split_once('-')).ok_or_else(invalid)?;
    let (first, last) = (first.parse::<u64>().map_err(|_| invalid())?, last.parse::<u64>().map_err(|_| invalid())?);
    if first > last {
        return Err(invalid());
    }
    if last >= size {
        return Err(s3_error!(InvalidRange, "The requested range is not satisfiable"));
    }
    Ok((first, last))
}

pub(super) fn upload_param(text: &str) -> S3Result<cairn_engine::UploadId> {
    cairn_engine::UploadId::parse(text).ok_or_else(|| s3_error!(NoSuchUpload))
}
