//! Objects: PUT, GET, HEAD, DELETE (one and many), CopyObject and GetObjectAttributes.

use super::*;

impl Cairn {
    pub(super) async fn put_object(&self, req: S3Request<PutObjectInput>) -> S3Result<S3Response<PutObjectOutput>> {
        let written = self.written_acl(&req.headers, req.credentials.as_ref(), &req.input.bucket)?;
        let publishing = self.publishing(&req, &req.input.bucket)?;
        let S3Request { mut input, headers, trailing_headers, extensions, .. } = req;
        input.content_encoding = writes::stored_content_encoding(input.content_encoding);
        // The bucket's Object Lock and lifecycle configurations, in one lookup.
        let [lock_config, lifecycle_config] = self
            .engine
            .bucket_configs(&input.bucket, [cairn_engine::OBJECT_LOCK_CONFIG, crate::lifecycle::BUCKET_LIFECYCLE])
            .map_err(to_s3)?;
        let lock = lock::write_lock(lock_config.as_deref(), lock_headers!(input))?;
        if lock_config.is_some() && lock_named(&headers) && !writes::digested(&headers) {
            return Err(s3_error!(
                InvalidRequest,
                "Content-MD5 OR x-amz-checksum- HTTP header is required for Put Object requests with Object Lock parameters"
            ));
        }
        let mut attributes = request_attributes!(input, input.tagging).into_engine()?;
        (attributes.owner, attributes.acl) = (written.owner, written.acl);
        attributes.storage_class = encryption::storage_class(&headers)?;
        attributes.lock = lock;
        let tags = attributes.tags.clone();
        let (sse, customer) = self.write_encryption(&headers, &input.bucket, &input.key)?;
        let condition = writes::write_condition(
            &self.engine,
            &input.bucket,
            &input.key,
            input.if_match.as_ref(),
            input.if_none_match.as_ref(),
        )?;
        let claim = checksum::claim(&headers)?;
        let store = claim.as_ref().map_or(checksum::DEFAULT_ALGORITHM, |c| c.algorithm);
        let mut sums = BodyChecksums::new(claim, store);
        let mut writer = self.engine.put_object(&input.bucket, &input.key, attributes).map_err(to_s3)?;
        writer.set_condition(condition.condition);
        if let Some(sse) = &sse {
            writer.set_encryption(sse).map_err(to_s3)?;
        }
        let sealed = writer.encryption().cloned();
        let content_length = input.content_length.filter(|_| extensions.get::<LengthUnknown>().is_none());
        receive_body(input.body, content_length, &mut writer, &mut sums).await?;
        if let Some(content_md5) = writes::content_md5(input.content_md5.as_deref(), &headers) {
            writes::check_content_md5(content_md5, &writer.md5())?;
        }
        let (stored, _) = sums.finish(trailing_headers.and_then(|t| t.take()).as_ref())?;
        let fields = Fields::of(Some(&stored), None);
        writer.set_checksum(stored);
        let bucket = input.bucket.clone();
        let posted = publishing.is_some() && extensions.get::<crate::notify::Posted>().is_some();
        let event = if posted { EventName::Post } else { EventName::Put };
        let noticed = self.notice(&publishing, &bucket, &input.key, event);
        let noticed = match noticed {
            Some(notice) => writer.add_notice(notice).map_err(to_s3).map(|()| true)?,
            None => false,
        };
        // A replica another server sends is not replicated again (S3 never chains).
        let replica = replication::replica_of(&headers)?;
        let replicated = match replica {
            Some(replica) => {
                writer.set_replica(replica);
                false
            }
            None => self.replicate_version(&mut writer, &bucket, &input.key, &tags, sse.as_ref())?,
        };
        let outcome = writer.finish_async().await.map_err(|error| match replica {
            Some(_) => replication::replica_refusal(error),
            None => condition.refusal(error),
        })?;
        if noticed {
            self.notifications.wake();
        }
        if replicated {
            self.replication.wake();
        }
        let versioned = self.versioned(&bucket)?;
        let mut response = S3Response::new(with_checksums!(fields => PutObjectOutput {
            e_tag: Some(ETag::Strong(outcome.etag.trim_matches('"').to_owned())),
            expiration: lifecycle_config.and_then(|_| self.written_expiration(&bucket, &input.key, outcome.version)),
            version_id: version_header(outcome.version, versioned),
            checksum_type: fields.kind,
            ..Default::default()
        }));
        self.encryption_headers(&mut response.headers, sealed.as_ref(), customer.as_ref(), true);
        Ok(response)
    }

    pub(super) async fn get_object(&self, req: S3Request<GetObjectInput>) -> S3Result<S3Response<GetObjectOutput>> {
        let customer = self.customer_key(&req.headers)?;
        let input = req.input;
        // Resolve the version once: the conditions, a part number and the body all refer to it.
        let conditions = Conditions {
            if_match: input.if_match.as_ref(),
            if_none_match: input.if_none_match.as_ref(),
            if_modified_since: input.if_modified_since.as_ref(),
            if_unmodified_since: input.if_unmodified_since.as_ref(),
        };
        let (found, info) = self.read_version(&input.bucket, &input.key, input.version_id.as_deref(), &conditions)?;
        self.check_read_key(&req.headers, info.attributes.encryption.as_ref(), customer.as_ref())?;
        let range = match (input.range, input.part_number) {
            (Some(_), Some(_)) => {
                return Err(s3_error!(
                    InvalidRequest,
                    "Cannot specify both Range header and partNumber query parameter"
                ));
            }
            (None, Some(number)) => part_range(&info, number)?,
            (None, None) => None,
            (Some(Range::Int { first, last }), None) => Some(ByteRange::From { first, last }),
            (Some(Range::Suffix { length }), None) => Some(ByteRange::Suffix(length)),
        };
        let sums = read_checksum(&info, input.checksum_mode.as_ref(), input.range.is_some(), input.part_number);
        let (lock_mode, lock_until, legal_hold) =
            self.read_lock(origin!(req), &input.bucket, &input.key, &info.attributes.lock);
        let expiration =
            input.version_id.is_none().then(|| self.expiration(&input.bucket, &input.key, &info)).flatten();
        let key = customer.as_ref().map(|c| &*c.key);
        let reader = self.engine.read_version(&input.bucket, &input.key, found, info, range, key).map_err(to_s3)?;
        let info = reader.info().clone();
        let version_id = reader.version().id;
        let (start, end) = reader.range();
        let content_range = range.map(|_| format!("bytes {}-{}/{}", start, end.saturating_sub(1), info.size));
        let versioned = self.versioned(&input.bucket)?;
        let inline = reader.len() <= INLINE_READ_BYTES_MAX;
        // The first chunk is read before the answer starts, so a read that fails at once is an
        // S3 error, not a cut connection; a later failure can only cut the body short (as S3's
        // would): wrong bytes are never sent.
        let (mut reader, first) = next_chunk(reader, inline).await;
        let first = match first {
            Some(Err(error)) => return Err(to_s3(error)),
            other => other,
        };
        let stream = futures::stream::unfold((reader.take(), first), move |(reader, ready)| async move {
            if let Some(item) = ready {
                return Some((item, (reader, None)));
            }
            let (reader, item) = next_chunk(reader?, inline).await;
            item.map(|item| (item, (reader, None)))
        });
        let system = &info.attributes.system;
        let output = with_checksums!(sums => GetObjectOutput {
            body: Some(StreamingBlob::wrap(stream)),
            content_length: Some((end - start) as i64),
            content_range,
            accept_ranges: Some("bytes".into()),
            e_tag: Some(etag(&info)),
            last_modified: Some(timestamp(info.last_modified_ms)),
            content_type: input.response_content_type.or_else(|| system.content_type.clone()),
            content_encoding: input.response_content_encoding.or_else(|| system.content_encoding.clone()),
            content_disposition: input.response_content_disposition.or_else(|| system.content_disposition.clone()),
            content_language: input.response_content_language.or_else(|| system.content_language.clone()),
            cache_control: input.response_cache_control.or_else(|| system.cache_control.clone()),
            expires: input.response_expires.or_else(|| system.expires.as_deref().and_then(parse_http_date)),
            website_redirect_location: system.website_redirect_location.clone(),
            metadata: user_metadata(&info),
            replication_status: Cairn::replication_status(&info),
            // S3 gives the parts count only to a partNumber read of a multipart object.
            parts_count: info.parts_count().filter(|_| input.part_number.is_some()).map(|n| n as i32),
            tag_count: (!info.attributes.tags.is_empty()).then_some(info.attributes.tags.len() as i32),
            version_id: version_header(version_id, versioned),
            checksum_type: sums.kind,
            storage_class: encryption::storage_class_header(info.attributes.storage_class),
            restore: encryption::restore_header(&info),
            object_lock_mode: lock_mode,
            object_lock_retain_until_date: lock_until,
            object_lock_legal_hold_status: legal_hold,
            expiration,
            ..Default::default()
        });
        let mut response = S3Response::new(output);
        self.encryption_headers(&mut response.headers, info.attributes.encryption.as_ref(), customer.as_ref(), false);
        Ok(response)
    }

    pub(super) async fn head_object(&self, req: S3Request<HeadObjectInput>) -> S3Result<S3Response<HeadObjectOutput>> {
        let customer = self.customer_key(&req.headers)?;
        let input = req.input;
        let conditions = Conditions {
            if_match: input.if_match.as_ref(),
            if_none_match: input.if_none_match.as_ref(),
            if_modified_since: input.if_modified_since.as_ref(),
            if_unmodified_since: input.if_unmodified_since.as_ref(),
        };
        let (found, info) = self.read_version(&input.bucket, &input.key, input.version_id.as_deref(), &conditions)?;
        self.check_read_key(&req.headers, info.attributes.encryption.as_ref(), customer.as_ref())?;
        let part = input.part_number.map(|number| part_range(&info, number)).transpose()?.flatten();
        let sums = read_checksum(&info, input.checksum_mode.as_ref(), false, input.part_number);
        let (lock_mode, lock_until, legal_hold) =
            self.read_lock(origin!(req), &input.bucket, &input.key, &info.attributes.lock);
        let expiration =
            input.version_id.is_none().then(|| self.expiration(&input.bucket, &input.key, &info)).flatten();
        let versioned = self.versioned(&input.bucket)?;
        let system = &info.attributes.system;
        let (content_length, content_range) = match part {
            Some(ByteRange::From { first, last: Some(last) }) => {
                (last + 1 - first, Some(format!("bytes {first}-{last}/{}", info.size)))
            }
            _ => (info.size, None),
        };
        let mut response = S3Response::new(with_checksums!(sums => HeadObjectOutput {
            content_length: Some(content_length as i64),
            content_range,
            accept_ranges: Some("bytes".into()),
            e_tag: Some(etag(&info)),
            last_modified: Some(timestamp(info.last_modified_ms)),
            content_type: system.content_type.clone(),
            content_encoding: system.content_encoding.clone(),
            content_disposition: system.content_disposition.clone(),
            content_language: system.content_language.clone(),
            cache_control: system.cache_control.clone(),
            expires: system.expires.as_deref().and_then(parse_http_date),
            website_redirect_location: system.website_redirect_location.clone(),
            metadata: user_metadata(&info),
            replication_status: Cairn::replication_status(&info),
            parts_count: info.parts_count().filter(|_| input.part_number.is_some()).map(|n| n as i32),
            version_id: version_header(found.id, versioned),
            checksum_type: sums.kind,
            storage_class: encryption::storage_class_header(info.attributes.storage_class),
            restore: encryption::restore_header(&info),
            object_lock_mode: lock_mode,
            object_lock_retain_until_date: lock_until,
            object_lock_legal_hold_status: legal_hold,
            expiration,
            ..Default::default()
        }));
        self.encryption_headers(&mut response.headers, info.attributes.encryption.as_ref(), customer.as_ref(), false);
        // GET's x-amz-tagging-count is in s3s's output; HEAD's is not, though S3 sends it.
        if !info.attributes.tags.is_empty() {
            response.headers.insert("x-amz-tagging-count", http::HeaderValue::from(info.attributes.tags.len()));
        }
        Ok(response)
    }

    pub(super) async fn delete_object(
        &self,
        req: S3Request<DeleteObjectInput>,
    ) -> S3Result<S3Response<DeleteObjectOutput>> {
        let publishing = self.publishing(&req, &req.input.bucket)?;
        let replica = replication::replica_of(&req.headers)?;
        let input = req.input;
        let version = version_param(input.version_id.as_deref())?;
        if replica.is_some() && version.is_some() {
            return Err(s3_error!(InvalidRequest, "a replicated delete marker names no version"));
        }
        if version.is_some() {
            self.check_mfa_delete(&input.bucket, input.mfa.as_deref()).await?;
        }
        let bypass = self.bypass(origin!(req), input.bypass_governance_retention, &input.bucket, &input.key);
        let (bucket, key) = (input.bucket.clone(), input.key.clone());
        let extras = match (version, replica) {
            (Some(_), _) => Default::default(),
            (None, Some(replica)) => cairn_engine::WriteExtras { replica: Some(replica), ..Default::default() },
            (None, None) => self.marker_extras(&bucket, &key)?,
        };
        let replicated = !extras.notices.is_empty();
        let outcome = self
            .blocking_s3(move |engine| {
                engine.delete_object_with(&bucket, &key, version, bypass, extras).map_err(replication::replica_refusal)
            })
            .await?;
        if replicated {
            self.replication.wake();
        }
        if outcome.version.is_some() {
            self.publish(publishing, &input.bucket, || vec![notification::removed(&input.key, &outcome)]).await;
        }
        Ok(S3Response::new(DeleteObjectOutput {
            delete_marker: outcome.delete_marker.then_some(true),
            version_id: outcome.version.filter(|_| outcome.delete_marker || version.is_some()).map(|v| v.to_string()),
            ..Default::default()
        }))
    }

    pub(super) async fn copy_object(&self, req: S3Request<CopyObjectInput>) -> S3Result<S3Response<CopyObjectOutput>> {
        let storage_class = encryption::storage_class(&req.headers)?;
        let source_key_given = self.copy_source_key(&req.headers)?;
        let (sse, customer) = self.write_encryption(&req.headers, &req.input.bucket, &req.input.key)?;
        let publishing = self.publishing(&req, &req.input.bucket)?;
        let input = req.input;
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
        if info.size > cairn_engine::limits::PUT_BYTES_MAX {
            return Err(s3_error!(
                InvalidRequest,
                "The specified copy source is larger than the maximum allowable size for a copy source: {}",
                cairn_engine::limits::PUT_BYTES_MAX
            ));
        }
        let replace_metadata =
            input.metadata_directive.as_ref().is_some_and(|d| d.as_str() == MetadataDirective::REPLACE);
        let replace_tags = input.tagging_directive.as_ref().is_some_and(|d| d.as_str() == TaggingDirective::REPLACE);
        encryption::check_key(info.attributes.encryption.as_ref(), source_key_given.as_ref())?;
        let onto_itself = source_bucket == input.bucket && source_key == input.key;
        // Naming a storage class or an encryption is a change, as AWS counts them.
        let changes_storage = req
            .headers
            .keys()
            .any(|name| name.as_str() == "x-amz-storage-class" || name.as_str().starts_with(encryption::SSE));
        if onto_itself && !replace_metadata && !replace_tags && !changes_storage {
            return Err(s3_error!(
                InvalidRequest,
                "This copy request is illegal because it is trying to copy an object to itself without changing the object's metadata, storage class, website redirect location or encryption attributes."
            ));
        }
        let mut attributes = if replace_metadata {
            request_attributes!(input, None).into_engine()?
        } else {
            let mut kept = ObjectAttributes { tags: Vec::new(), ..info.attributes.clone() };
            // Never copied: each object's own, as the request gives it (as AWS).
            kept.system.website_redirect_location = website_redirect(input.website_redirect_location.clone())?;
            kept
        };
        // A copy's owner and ACL are the request's, never the source's (as AWS).
        let written = self.written_acl(&req.headers, req.credentials.as_ref(), &input.bucket)?;
        (attributes.owner, attributes.acl) = (written.owner, written.acl);
        attributes.tags =
            if replace_tags { parse_tagging(input.tagging.as_deref())? } else { info.attributes.tags.clone() };
        // The copy is stored as the request asks, not as the source was (as AWS).
        attributes.storage_class = storage_class;
        attributes.lock = self.write_lock(&input.bucket, lock_headers!(input))?;
        // The copy gets a full-object checksum: of the algorithm asked for, else the source's.
        let algorithm = match &input.checksum_algorithm {
            Some(algorithm) => checksum::from_dto(algorithm)?,
            None => info.checksum.as_ref().map_or(checksum::DEFAULT_ALGORITHM, |c| c.algorithm),
        };
        let (bucket, key, source_id) = (input.bucket.clone(), input.key.clone(), found.id);
        let notice = self.notice(&publishing, &bucket, &key, EventName::Copy);
        let noticed = notice.is_some();
        let kms = matches!(sse, Some(cairn_engine::Sse::Kms { .. }));
        let replication = self.replication.version_notice(&bucket, &key, &attributes.tags, kms);
        let replicated = replication.is_some();
        if replicated {
            self.replication_room()?;
        }
        let source_versioned = self.versioned(&source_bucket)?;
        let (outcome, copied) = self
            .blocking(move |engine| {
                // Streamed chunk by chunk, each verified as it is read: a copy never holds the
                // object in memory and never copies damaged bytes.
                // Opened with the source's keys and sealed again under the destination's.
                let (version, source) = engine.head_object(&source_bucket, &source_key, Some(source_id))?;
                let source_customer = source_key_given.as_ref().map(|c| &*c.key);
                let reader =
                    engine.read_version(&source_bucket, &source_key, version, source, None, source_customer)?;
                let mut writer = engine.put_object(&bucket, &key, attributes)?;
                if let Some(sse) = &sse {
                    writer.set_encryption(sse)?;
                }
                if let Some(notice) = notice {
                    writer.add_notice(notice)?;
                }
                if let Some(notice) = replication {
                    writer.add_notice(notice)?;
                    writer.set_replication_status(cairn_engine::ReplicationStatus::Pending);
                }
                let mut hasher = checksum::Hasher::new(algorithm);
                for chunk in reader {
                    let chunk = chunk?;
                    hasher.update(&chunk);
                    writer.write(&chunk)?;
                }
                writer.set_checksum(checksum::full_object(algorithm, hasher));
                let outcome = writer.finish()?;
                let (_, copied) = engine.head_object(&bucket, &key, Some(outcome.version))?;
                Ok((outcome, copied))
            })
            .await?;
        if noticed {
            self.notifications.wake();
        }
        if replicated {
            self.replication.wake();
        }
        let versioned = self.versioned(&input.bucket)?;
        let sums = Fields::of(copied.checksum.as_ref(), None);
        let mut response = S3Response::new(CopyObjectOutput {
            copy_object_result: Some(with_checksums!(sums => CopyObjectResult {
                e_tag: Some(etag(&copied)),
                last_modified: Some(timestamp(copied.last_modified_ms)),
                checksum_type: sums.kind,
            })),
            copy_source_version_id: source_versioned.then(|| found.id.to_string()),
            expiration: self.expiration(&input.bucket, &input.key, &copied),
            version_id: version_header(outcome.version, versioned),
            ..Default::default()
        });
        self.encryption_headers(&mut response.headers, copied.attributes.encryption.as_ref(), customer.as_ref(), true);
        Ok(response)
    }

    pub(super) async fn get_object_attributes(
        &self,
        req: S3Request<GetObjectAttributesInput>,
    ) -> S3Result<S3Response<GetObjectAttributesOutput>> {
        let customer = self.customer_key(&req.headers)?;
        let input = req.input;
        let version = version_param(input.version_id.as_deref())?;
        let (found, info) = self.engine.head_object(&input.bucket, &input.key, version).map_err(to_s3)?;
        encryption::check_key(info.attributes.encryption.as_ref(), customer.as_ref())?;
        // The SDKs send the attributes as one comma-separated header; others repeat the header.
        let wants =
            |name: &str| input.object_attributes.iter().flat_map(|a| a.as_str().split(',')).any(|a| a.trim() == name);
        let object_parts = match (&info.layout, wants(s3s::dto::ObjectAttributes::OBJECT_PARTS)) {
            (cairn_engine::Layout::Parts(parts), true) => {
                let marker = input.part_number_marker.unwrap_or(0).max(0);
                let max_parts = input.max_parts.unwrap_or(1000).clamp(0, 1000);
                let after: Vec<_> = parts.iter().filter(|p| p.number as i32 > marker).collect();
                let page: Vec<ObjectPart> = after
                    .iter()
                    .take(max_parts as usize)
                    .map(|p| {
                        let sums = Fields::of(p.checksum.as_ref().filter(|_| info.checksum.is_some()), None);
                        with_checksums!(sums => ObjectPart {
                            part_number: Some(p.number as i32),
                            size: Some(p.size as i64),
                        })
                    })
                    .collect();
                Some(GetObjectAttributesParts {
                    is_truncated: Some(after.len() > page.len()),
                    max_parts: Some(max_parts),
                    next_part_number_marker: page.last().and_then(|p| p.part_number),
                    part_number_marker: Some(marker),
                    total_parts_count: Some(parts.len() as i32),
                    parts: Some(page),
                })
            }
            _ => None,
        };
        let versioned = self.versioned(&input.bucket)?;
        Ok(S3Response::new(GetObjectAttributesOutput {
            e_tag: wants(s3s::dto::ObjectAttributes::ETAG).then(|| etag(&info)),
            object_size: wants(s3s::dto::ObjectAttributes::OBJECT_SIZE).then_some(info.size as i64),
            storage_class: wants(s3s::dto::ObjectAttributes::STORAGE_CLASS)
                .then(|| encryption::listed_storage_class(info.attributes.storage_class)),
            object_parts,
            checksum: wants(s3s::dto::ObjectAttributes::CHECKSUM).then(|| {
                let sums = Fields::of(info.checksum.as_ref(), info.parts_count());
                with_checksums!(sums => s3s::dto::Checksum {
                    checksum_type: sums.kind,
                })
            }),
            last_modified: Some(timestamp(info.last_modified_ms)),
            version_id: version_header(found.id, versioned),
            ..Default::default()
        }))
    }

    pub(super) async fn delete_objects(
        &self,
        req: S3Request<DeleteObjectsInput>,
    ) -> S3Result<S3Response<DeleteObjectsOutput>> {
        let publishing = self.publishing(&req, &req.input.bucket)?;
        let input = req.input;
        if input.delete.objects.len() > cairn_engine::limits::LIST_PAGE_ENTRIES_MAX {
            return Err(s3_error!(MalformedXML, "a DeleteObjects request names at most 1,000 keys"));
        }
        let quiet = input.delete.quiet.unwrap_or(false);
        let bucket = input.bucket;
        // The decision the authorization step left to this handler: each key is its own request
        // for s3:DeleteObject (s3:DeleteObjectVersion with a version id), as AWS decides them; a
        // refused key is an AccessDenied entry and the others go ahead.
        let mut refused = Vec::new();
        let mut objects = Vec::with_capacity(input.delete.objects.len());
        // MFA delete asks one code of the whole request when it deletes any version (as AWS).
        if input.delete.objects.iter().any(|o| o.version_id.is_some()) {
            self.check_mfa_delete(&bucket, input.mfa.as_deref()).await?;
        }
        for object in input.delete.objects {
            let action = if object.version_id.is_some() { "s3:DeleteObjectVersion" } else { "s3:DeleteObject" };
            let resource = Resource::Object { bucket: &bucket, key: &object.key };
            match self.authorize(origin!(req), action, resource, None, input.expected_bucket_owner.as_deref()) {
                Ok(()) => {
                    let bypass = self.bypass(origin!(req), input.bypass_governance_retention, &bucket, &object.key);
                    let extras = match object.version_id {
                        None => self.marker_extras(&bucket, &object.key)?,
                        Some(_) => cairn_engine::WriteExtras::default(),
                    };
                    objects.push((object, bypass, extras));
                }
                Err(error) if *error.code() == s3s::S3ErrorCode::AccessDenied => refused.push(Error {
                    code: Some("AccessDenied".into()),
                    key: Some(object.key),
                    message: Some("Access Denied".into()),
                    version_id: object.version_id,
                }),
                Err(error) => return Err(error),
            }
        }
        let (events_bucket, noting) = (bucket.clone(), publishing.is_some());
        let replicated = objects.iter().any(|(_, _, extras)| !extras.notices.is_empty());
        let (deleted, errors, removed) = self
            .blocking(move |engine| {
                let (mut deleted, mut errors, mut removed) = (Vec::new(), refused, Vec::new());
                for (object, bypass, extras) in objects {
                    let version = match object.version_id.as_deref().map(VersionId::parse) {
                        None => None,
                        Some(Some(version)) => Some(version),
                        Some(None) => {
                            errors.push(Error {
                                code: Some("NoSuchVersion".into()),
                                key: Some(object.key),
                                message: Some("The specified version does not exist.".into()),
                                version_id: object.version_id,
                            });
                            continue;
                        }
                    };
                    match engine.delete_object_with(&bucket, &object.key, version, bypass, extras) {
                        Ok(outcome) => deleted.push(DeletedObject {
                            key: Some(removed_key(noting.then_some(&mut removed), object.key, &outcome)),
                            version_id: object.version_id,
                            delete_marker: outcome.delete_marker.then_some(true),
                            // The marker made, or the one a version id removed.
                            delete_marker_version_id: outcome
                                .version
                                .filter(|_| outcome.delete_marker)
                                .map(|v| v.to_string()),
                        }),
                        Err(error @ cairn_engine::Error::NoSuchBucket(_)) => return Err(error),
                        Err(error) => {
                            let s3 = to_s3(error);
                            errors.push(Error {
                                code: Some(s3.code().as_str().to_owned()),
                                key: Some(object.key),
                                message: s3.message().map(str::to_owned),
                                version_id: object.version_id,
                            });
                        }
                    }
                }
                Ok((deleted, errors, removed))
            })
            .await?;
        if replicated {
            self.replication.wake();
        }
        let removed = || removed.iter().map(|(key, outcome)| notification::removed(key, outcome)).collect();
        self.publish(publishing, &events_bucket, removed).await;
        Ok(S3Response::new(DeleteObjectsOutput {
            deleted: (!quiet).then_some(deleted),
            errors: Some(errors),
            ..Default::default()
        }))
    }
}

/// `key`, noted in `removed` (when its events are published) with its outcome if the delete
/// removed a version or made a marker.
fn removed_key(
    removed: Option<&mut Vec<(String, cairn_engine::DeleteOutcome)>>,
    key: String,
    outcome: &cairn_engine::DeleteOutcome,
) -> String {
    if let Some(removed) = removed.filter(|_| outcome.version.is_some()) {
        removed.push((key.clone(), outcome.clone()));
    }
    key
}

/// The byte range of part `number` (a single PUT is part 1), as an inclusive range; `None` for
/// an empty part 1, which is the whole (empty) object. A number outside 1 to 10,000 is
/// InvalidArgument; a part the object does not have, S3's 400 InvalidPart.
pub(super) fn part_range(info: &ObjectInfo, number: i32) -> S3Result<Option<ByteRange>> {
    let number = u32::try_from(number)
        .ok()
        .filter(|n| (1..=cairn_engine::limits::PART_NUMBER_MAX).contains(n))
        .ok_or_else(|| s3_error!(InvalidArgument, "Part number must be an integer between 1 and 10000, inclusive"))?;
    let (start, end) = info.part_range(number).ok_or_else(|| {
        s3_error!(
            InvalidPart,
            "One or more of the specified parts could not be found. The part may not have been uploaded, or the specified entity tag may not match the part's entity tag."
        )
    })?;
    Ok((end > start).then_some(ByteRange::From { first: start, last: Some(end - 1) }))
}

/// The checksum fields a GET or HEAD returns: only when asked (`x-amz-checksum-mode: ENABLED`),
/// the object's for a whole-object read, a part's for a `partNumber` read, none for a range.
pub(super) fn read_checksum(info: &ObjectInfo, mode: Option<&ChecksumMode>, ranged: bool, part: Option<i32>) -> Fields {
    let enabled = mode.is_some_and(|m| m.as_str() == ChecksumMode::ENABLED);
    let checksum = match (&info.layout, part) {
        _ if !enabled || ranged => None,
        (_, None) | (cairn_engine::Layout::Extents(_), Some(_)) => {
            return Fields::of(info.checksum.as_ref(), info.parts_count());
        }
        (cairn_engine::Layout::Parts(parts), Some(number)) => {
            parts.iter().find(|p| i64::from(p.number) == i64::from(number)).and_then(|p| p.checksum.as_ref())
        }
    };
    Fields::of(checksum, None)
}

/// Whether a write names an Object Lock setting in its headers.
fn lock_named(headers: &http::HeaderMap) -> bool {
    ["x-amz-object-lock-mode", "x-amz-object-lock-retain-until-date", "x-amz-object-lock-legal-hold"]
        .iter()
        .any(|name| headers.contains_key(*name))
}

pub(super) fn user_metadata(info: &ObjectInfo) -> Option<Metadata> {
    (!info.attributes.user.is_empty()).then(|| info.attributes.user.iter().cloned().collect())
}
